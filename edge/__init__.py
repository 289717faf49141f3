"""edge: offline video classification speaking the Twelve Labs v1.2 classify API."""

__version__ = "0.1.0"
