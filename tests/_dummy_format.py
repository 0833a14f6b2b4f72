"""A test-only export format, the whole of it in this one module: ONNX written as model.dnx under the name
"dummyonnx". tests/test_format_table.py adds this module to the formats table and checks that export, the
manifest, profiling, analysis, the target schema and `edgekit formats` all pick it up from this row alone.
"""

from __future__ import annotations

from pathlib import Path

from edgekit.exporting.base import ExportFormat, ExportJob
from edgekit.exporting.formats import onnx

NAME = "dummyonnx"
SUFFIX = ".dnx"


def convert(job: ExportJob) -> list[Path]:
    """The real ONNX conversion, renamed: ONNX Runtime and the onnx package read a file whatever its suffix."""
    (made,) = onnx.convert(job)
    out = made.with_suffix(SUFFIX)
    made.rename(out)
    return [out]


FORMAT = ExportFormat(
    name=NAME,
    suffix=SUFFIX,
    precisions=("fp32",),
    extra="onnx",
    convert=convert,
    load=onnx.FORMAT.load,
    io_details=onnx.io_details,
    read_graph=onnx.FORMAT.read_graph,
    precision_of=onnx.FORMAT.precision_of,
    timing="onnxruntime",
    default=False,  # `edgekit export` without --format keeps making the usual three
)
