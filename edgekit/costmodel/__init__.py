"""Prediction: what an artifact will cost on a target edgekit cannot measure here.

One cost model per target kind (CPU roofline, Edge TPU, NPU), the instruction-count model for emulated runs, and
the fitting of their constants against published device latencies (`edgekit fit`). Measurement lives in
edgekit.measure; this package never runs a model.
"""
