"""The formats table: one row per module (Ultralytics' habit); export, verify, profile and tests iterate it."""

from __future__ import annotations

from edgekit.export.base import ExportFormat


def formats() -> dict[str, ExportFormat]:
    from edgekit.export import edgetpu, onnx, openvino, tflite

    return {m.FORMAT.name: m.FORMAT for m in (tflite, onnx, openvino, edgetpu)}


FORMAT_NAMES = ("tflite", "onnx", "openvino", "edgetpu")
DEFAULT_FORMATS = ("tflite", "onnx", "openvino")
