"""edgekit: build, quantize, export, verify, profile and predict image classifiers for edge devices.

The Python API (edgekit.api) is re-exported here: `edgekit.export("mobilenetv2", precision="int8")`. Importing
edgekit loads no heavy library; each function loads what it needs when called.
"""

from edgekit._version import __version__
from edgekit.api import build, compare, export, predict, profile, recommend, train

__all__ = ["__version__", "build", "compare", "export", "predict", "profile", "recommend", "train"]
