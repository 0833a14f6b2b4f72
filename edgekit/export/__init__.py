"""The formats table: one row per module (Ultralytics' habit); export, verify, profile and tests iterate it.

Adding a format: a module with a FORMAT row, listed in formats(). The name lists below derive from the rows.
"""

from __future__ import annotations

from edgekit.export.base import ExportFormat


def formats() -> dict[str, ExportFormat]:
    from edgekit.export import edgetpu, onnx, openvino, tflite

    return {m.FORMAT.name: m.FORMAT for m in (tflite, onnx, openvino, edgetpu)}


FORMAT_NAMES = tuple(formats())
DEFAULT_FORMATS = tuple(name for name, row in formats().items() if row.default)
