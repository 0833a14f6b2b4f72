"""Where the cost model's data lives, and the tables every layer of it shares (no edgekit imports: the bottom layer).

The data `edgekit fit` reads at run time ships inside the package (edgekit/costmodel/data/, package data), so an
installed wheel fits exactly as a checkout does; the benchmarks write their evidence under benchmarks/results/.
"""

from __future__ import annotations

import math
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"
PUBLISHED_CSV = DATA_DIR / "published-device-latency.csv"  # published device latencies, with sources
GRAPHS_DIR = DATA_DIR / "reference-graphs"  # committed graph summaries of the published rows' models
# ONNX Runtime's and LiteRT's emulated instructions on the same models (benchmarks/ort_instructions.py counts them).
ORT_INSTRUCTIONS_JSON = DATA_DIR / "ort-instructions.json"
FITTED_JSON = PACKAGE_DIR / "fitted.json"  # the constants predictions use (`edgekit fit --write`)

ORT, LITERT = "onnxruntime", "litert-xnnpack"
MIN_BAND = math.log(1.1)  # never claim a band narrower than +-10%


def package_relative(path: Path) -> str:
    """The path as it sits in the package (edgekit/costmodel/data/...), the same in a checkout and a wheel."""
    return path.relative_to(PACKAGE_DIR.parent.parent).as_posix()
