"""edgekit: build, quantize, export, verify, profile and predict image classifiers for edge devices."""

__version__ = "0.1.0"
