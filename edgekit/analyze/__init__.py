"""Static analysis of an artifact: per-op graph facts (graph.py), Edge TPU (edgetpu.py) and Intel NPU (npu.py) rules.

One reader per format in readers/, chosen through the formats table (edgekit.exporting.formats). Nothing heavy is
imported
here: the .tflite and OpenVINO .xml readers use the standard library only; the ONNX reader imports onnx when called.
"""

from edgekit.analyze.graph import Graph, OpInfo, TensorInfo, load_graph

__all__ = ["Graph", "OpInfo", "TensorInfo", "load_graph"]
