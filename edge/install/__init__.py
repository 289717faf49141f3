"""Install-time code: the model store, conversions. Never imported when indexing or answering a request."""
