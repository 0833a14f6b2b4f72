"""The package version: its own module, so that modules below the API can read it without importing edgekit.api."""

__version__ = "0.1.0"
