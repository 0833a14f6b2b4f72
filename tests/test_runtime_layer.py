"""edgekit/device is the one runtime layer: no other source in edgekit/ or benchmarks/ creates a LiteRT
Interpreter, an ONNX Runtime InferenceSession or an OpenVINO Core / compiled model. They go through
edgekit.device.open_model (in-process) or `python -m edgekit.device run` (a subprocess)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEVICE = ROOT / "edgekit" / "device"
# Calls that create a runtime: Interpreter(...), InferenceSession(...), Core(), <anything>.compile_model(...).
CREATORS = {"Interpreter", "InferenceSession", "Core"}
TEXT = re.compile(r"\b(?:Interpreter|InferenceSession)\(|\bCore\(\)|\.compile_model\(")


def _sources() -> list[Path]:
    files = sorted((ROOT / "edgekit").rglob("*.py")) + sorted((ROOT / "benchmarks").rglob("*.py"))
    return [p for p in files if DEVICE not in p.parents]


def _creating_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        # compile_model is a runtime call only as a method (edgekit.training has a function of that name).
        if name in CREATORS or (name == "compile_model" and isinstance(func, ast.Attribute)):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}(")
    return found


def test_only_edgekit_device_creates_runtimes():
    offenders = [hit for path in _sources() for hit in _creating_calls(path)]
    assert offenders == [], "runtimes created outside edgekit/device (use edgekit.device.open_model):\n" + "\n".join(
        offenders
    )


def test_no_runtime_creation_hidden_from_the_ast():
    """The same rule on the text (strings run with exec or -c), ignoring comments and docstrings' prose."""
    offenders = []
    for path in _sources():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if TEXT.search(code) and not code.lstrip().startswith(('"', "'")):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "\n".join(offenders)


def test_the_scan_sees_the_device_backends():
    """Guard against a scan that finds nothing: edgekit/device itself does create all three runtimes."""
    hits = [hit for path in sorted(DEVICE.glob("*.py")) for hit in _creating_calls(path)]
    assert {h.rsplit(": ", 1)[1] for h in hits} >= {"Core(", "InferenceSession(", "compile_model("}
    assert any("interpreter_cls(" in line for line in (DEVICE / "litert_backend.py").read_text().splitlines())


def test_a_runtime_is_one_row(tmp_path, monkeypatch):
    """A new runtime is one row of edgekit/device/runtimes.py TABLE: the device runner's --runtime choices, the
    runtime a host measurement names and open_model all follow it. The row here reuses ONNX Runtime's backend for a
    suffix no other row claims (a real new runtime brings its own backend module)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    from edgekit.device import open_model, runner, runtimes
    from edgekit.measure.host import host_runtime

    row = runtimes.Runtime("ort-copy", "onnxruntime", "onnxruntime==1.32.0", (".onx2",), "onnx_backend:OnnxBackend")
    model = tmp_path / "relu.onx2"
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model)
    assert runtimes.for_suffix(model) is None and "ort-copy" not in runtimes.names()  # the control

    monkeypatch.setattr(runtimes, "TABLE", (*runtimes.TABLE, row))
    assert "ort-copy" in runtimes.default_runtimes()
    assert runner.build_parser().parse_args(["run", str(model), "--runtime", "ort-copy"]).runtime == "ort-copy"
    assert host_runtime(model) == "ort-copy"
    loaded = open_model(model)
    (out,) = loaded.run([np.array([[-1.0, 2.0, -3.0, 4.0]], np.float32)])
    np.testing.assert_array_equal(out, [[0.0, 2.0, 0.0, 4.0]])
