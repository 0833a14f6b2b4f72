"""`python -m edgekit.device run MODEL.tflite --json`: see edgekit/device/__init__.py for the contract."""

import sys

from .runner import main

if __name__ == "__main__":
    sys.exit(main())
