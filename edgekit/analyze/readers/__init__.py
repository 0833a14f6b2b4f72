"""One graph reader per model format (tflite.py, onnx.py, openvino.py), each named by its formats-table row."""
