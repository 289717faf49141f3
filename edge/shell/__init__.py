"""The thin shells over the library: the command line and the HTTP server."""
