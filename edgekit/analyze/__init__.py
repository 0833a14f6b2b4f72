"""Static analysis of an artifact: per-op graph facts (graph.py), Edge TPU (edgetpu.py) and Intel NPU (npu.py) rules.

Nothing heavy is imported here: load_graph reads .tflite and OpenVINO .xml with the standard library only.
"""

from edgekit.analyze.graph import Graph, OpInfo, TensorInfo, load_graph

__all__ = ["Graph", "OpInfo", "TensorInfo", "load_graph"]
