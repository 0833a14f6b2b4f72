"""Emulated aarch64 (QEMU user mode + a Debian arm64 userland): setup, cache, FP32/INT8 runs matching x86.

Marked `arm`: `pytest -m arm`. The userland is built once into the cache (~45 s per runtime from scratch, needs
qemu-user-static, debootstrap and root or fakeroot; EDGEKIT_CACHE moves it) and reused afterwards (< 1 s).
Without the tools the building tests skip, unless EDGEKIT_REQUIRE_ARM=1 (CI) makes that a failure.
Guest instruction counts also need qemu-user (the dynamic qemu-aarch64 loads plugins) and a C compiler.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from edgekit import emulate
from edgekit.emulate import userland
from edgekit.errors import EdgekitError

try:
    from tests._tiny import tiny_onnx_model, tiny_tflite_models
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from _tiny import tiny_onnx_model, tiny_tflite_models

pytestmark = pytest.mark.arm

TOOLS = ("qemu-aarch64-static", "debootstrap")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    return tiny_tflite_models(tmp_path_factory.getbasetemp() / "tiny-models")


def _needs_tools() -> None:
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    if missing and os.environ.get("EDGEKIT_REQUIRE_ARM") != "1":
        pytest.skip(f"{', '.join(missing)} missing: {emulate.INSTALL_LINE}")


_ROOTFS: dict[str, tuple[Path, float]] = {}


def rootfs_for(runtime: str) -> tuple[Path, float]:
    """(rootfs, seconds setup took) built or restored once per session."""
    _needs_tools()
    if runtime not in _ROOTFS:
        start = time.perf_counter()
        rootfs = emulate.setup_emulator(runtime=runtime)
        _ROOTFS[runtime] = (rootfs, time.perf_counter() - start)
    return _ROOTFS[runtime]


@pytest.mark.parametrize("runtime", ["litert", "tflite-runtime"])
def test_setup_builds_then_reuses(runtime):
    rootfs, _ = rootfs_for(runtime)
    directory = rootfs.parent
    stamp = emulate.read_stamp(directory)
    assert stamp["runtime"] == runtime and stamp["machine"] == "aarch64" and stamp["python"].startswith("3.11")
    assert stamp["numpy"].startswith("2." if runtime == "litert" else "1.")
    assert (rootfs / "proc" / "cpuinfo").read_text().count("CPU implementer") == 4
    start = time.perf_counter()
    assert emulate.setup_emulator(runtime=runtime, directory=directory) == rootfs
    assert time.perf_counter() - start < 2.0, "a stamped emulator must be reused, not rebuilt"


@pytest.mark.parametrize("runtime", ["litert", "tflite-runtime"])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_emulated_run_matches_native(tiny_models, runtime, precision, tmp_path):
    rootfs, _ = rootfs_for(runtime)
    result = emulate.profile_emulated(
        tiny_models[precision], "rpi4", "cortex-a72", runtime=runtime, rootfs=rootfs, timeout=300, work_dir=tmp_path
    )
    assert result["status"] == "ok", result["error"]
    assert result["source"] == "emulated" and result["latency_ms"] is None and result["match"] is True
    assert result["runtime"]["name"] == runtime and result["runtime"]["device"] == "qemu-aarch64 cortex-a72"
    assert result["guest"]["machine"] == "aarch64" and result["emulated_wall_ms"] > 0
    assert result["artifact"]["sha256"] and result["target"] == "rpi4"
    if precision == "int8":
        assert result["max_quant_steps"] <= 1 and result["precision"] == "int8"
    else:
        assert result["max_quant_steps"] is None and result["max_abs_diff"] < 1e-4
    json.dumps(result)  # the result is JSON-able as is
    if _can_count():
        assert result["guest_instructions"] > 10_000, result["guest_instructions_note"]
        assert result["guest_instructions_spread"]["n"] == 3
    else:
        assert result["guest_instructions"] is None and "not counted" in result["guest_instructions_note"]
    # The emulated outputs came from an aarch64 run of the same inputs, not a copy of the reference.
    assert (tmp_path / "emulated.npy").is_file() and (tmp_path / "inputs.npy").is_file()


def test_profile_emulates_onnx_with_onnx_runtime(tmp_path, capfd):
    """`edgekit profile X.onnx --target rpi5 --emulate`: ONNX Runtime's aarch64 wheel in the litert userland runs the
    model as a Cortex-A76, its outputs checked against x86; the counted instructions are costed at the Pi 5's
    cycles per instruction, which were fitted on LiteRT rows, and the prediction says it carries them over."""
    from conftest import run_cli

    rootfs_for("litert")
    model = tiny_onnx_model(tmp_path)
    args = ["profile", str(model), "--target", "rpi5", "--emulate", "--json", "--profiles-dir", str(tmp_path / "p")]
    code, out, err = run_cli(args, capfd)
    assert code == 0, err
    (result,) = json.loads(out)
    assert result["source"] == "emulated" and result["status"] == "ok" and result["match"] is True, result["error"]
    assert result["format"] == "onnx" and result["latency_ms"] is None
    assert result["runtime"]["name"] == "onnxruntime" and result["runtime"]["version"] == "1.32.0"
    assert result["runtime"]["device"] == "qemu-aarch64 cortex-a76"
    if _can_count():
        guess = result["predicted_from_instructions"]
        assert guess["runtime"]["name"] == "onnxruntime" and guess["latency_ms"]["median"] > 0
        assert "carried over to onnxruntime" in guess["basis"], guess["basis"]


def test_dequantized_outputs_are_judged_in_quantization_steps(tmp_path):
    """A QDQ .onnx ends in DequantizeLinear: its float output moves in steps of that scale, and x86's and ARM's int8
    kernels may round one step apart (InceptionV3 S8S8 did), so it is judged like an integer output."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    scale = 1e-3
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])]  # fmt: skip
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(np.array(scale, np.float32), "s"), numpy_helper.from_array(np.array(0, np.int8), "z")],
    )  # fmt: skip
    path = tmp_path / "qdq.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    (step,) = emulate.onnx_output_steps(path)
    assert step == pytest.approx(scale)
    reference = [np.array([[0.0, 0.01, 0.02, 0.05]], np.float32)]
    one_step = emulate.compare_outputs(reference, [reference[0] + np.float32(scale)], steps=[step])
    assert one_step["match"] and one_step["max_quant_steps"] == pytest.approx(1.0)
    assert not emulate.compare_outputs(reference, [reference[0] + np.float32(2 * scale)], steps=[step])["match"]
    assert not emulate.compare_outputs(reference, [reference[0] + np.float32(scale)])["match"]  # plain float rule


def test_a_userland_without_onnx_runtime_names_the_one_with_it(tmp_path):
    with pytest.raises(EdgekitError, match="runs .tflite files, not tiny-fp32.onnx: use --guest-runtime litert"):
        emulate.profile_emulated(tiny_onnx_model(tmp_path), "rpi5", "cortex-a76", runtime="tflite-runtime")


def _can_count() -> bool:
    return bool(shutil.which("qemu-aarch64") and (shutil.which("cc") or shutil.which("gcc")))


def test_cpu_specific_cpuinfo_and_deterministic_instruction_counts(tiny_models):
    """Each run serves a cpuinfo for its own CPU: a cortex-a76 run (dot product) must not leave the next
    cortex-a72 run reading a76 features (XNNPACK would pick SDOT kernels: SIGILL). Counts repeat exactly."""
    rootfs, _ = rootfs_for("litert")
    cpuinfo = (rootfs / "proc" / "cpuinfo").read_text()
    counts = {}
    for target, cpu in (("rpi5", "cortex-a76"), ("rpi4", "cortex-a72"), ("rpi4", "cortex-a72")):
        result = emulate.profile_emulated(tiny_models["int8"], target, cpu, rootfs=rootfs)
        assert result["status"] == "ok" and result["match"] is True, result["error"]
        counts.setdefault(cpu, []).append(result["guest_instructions"])
    assert (rootfs / "proc" / "cpuinfo").read_text() == cpuinfo, "runs must not modify the cached rootfs"
    if not _can_count():
        pytest.skip("instruction counts need qemu-user (dynamic qemu-aarch64) and a C compiler")
    assert counts["cortex-a72"][0] == counts["cortex-a72"][1]
    # LiteRT's int8 kernels use the A76's dot-product instructions: far fewer instructions than on the A72.
    assert counts["cortex-a76"][0] < counts["cortex-a72"][0]


def test_perturbed_outputs_are_a_mismatch(tiny_models, tmp_path):
    rootfs, _ = rootfs_for("litert")
    for precision in ("int8", "fp32"):
        work = tmp_path / precision
        result = emulate.profile_emulated(tiny_models[precision], "rpi5", "cortex-a76", rootfs=rootfs, work_dir=work)
        assert result["match"] is True and result["runtime"]["device"] == "qemu-aarch64 cortex-a76"
        reference = emulate.load_arrays(work / "native.npy")
        emulated = emulate.load_arrays(work / "emulated.npy")
        assert emulate.compare_outputs(reference, emulated)["match"]
        if precision == "int8":
            one = [np.clip(a.astype(np.int16) + 1, -128, 127).astype(np.int8) for a in emulated]
            two = [np.clip(a.astype(np.int16) + 2, -128, 127).astype(np.int8) for a in emulated]
            assert emulate.compare_outputs(reference, one)["match"]  # one quantization step is tolerated
            far = emulate.compare_outputs(reference, two)
            assert not far["match"] and far["max_quant_steps"] >= 2
        else:
            near = [a * np.float32(1 + 2e-6) for a in emulated]
            assert emulate.compare_outputs(reference, near)["match"]
            far = emulate.compare_outputs(reference, [a * np.float32(1 + 1e-3) + 1e-3 for a in emulated])
            assert not far["match"] and far["max_rel_diff"] > 1e-5
        wrong_shape = emulate.compare_outputs(reference, [emulated[0][:, :3]])
        assert not wrong_shape["match"] and "differs" in wrong_shape["reason"]


def test_missing_tools_is_one_line_with_install_line(tmp_path, monkeypatch, tiny_models):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(EdgekitError) as info:
        emulate.setup_emulator(directory=tmp_path / "emu")
    message = info.value.message
    assert "\n" not in message and "apt-get install qemu-user-static debootstrap" in message
    assert "qemu-aarch64-static" in message and "debootstrap" in message
    assert not (tmp_path / "emu").exists()
    # Running needs QEMU too (a userland present, QEMU missing).
    fake = tmp_path / "fake" / "rootfs"
    (fake / "usr" / "bin").mkdir(parents=True)
    (fake / "usr" / "bin" / "python3").touch()
    with pytest.raises(EdgekitError) as info:
        emulate.profile_emulated(tiny_models["int8"], "rpi4", "cortex-a72", rootfs=fake)
    assert "apt-get install qemu-user-static debootstrap" in info.value.message


def test_half_built_folder_is_not_reused(tmp_path, monkeypatch):
    half = tmp_path / "emu"
    (half / "rootfs" / "usr" / "bin").mkdir(parents=True)
    (half / "rootfs" / "usr" / "bin" / "python3").touch()
    assert emulate.read_stamp(half) is None
    (half / emulate.STAMP).write_text("{truncated")
    assert emulate.read_stamp(half) is None
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(EdgekitError):  # it tries to build (and here cannot) rather than reuse
        emulate.setup_emulator(directory=half)


def test_names_and_defaults(monkeypatch, tmp_path):
    assert emulate.cpu_for_target("rpi4") == "cortex-a72" and emulate.cpu_for_target("rpi5") == "cortex-a76"
    with pytest.raises(EdgekitError, match="did you mean rpi"):
        emulate.cpu_for_target("rpi3")
    # the emulated CPU is the target file's [emulate] qemu_cpu; a target without one is not emulated
    assert emulate.emulated_targets() == {"rpi4": "cortex-a72", "rpi5": "cortex-a76", "coral-devboard": "cortex-a53"}
    with pytest.raises(EdgekitError, match="--emulate runs the ARM CPUs of .*rpi4.*, not host"):
        emulate.cpu_for_target("host")
    with pytest.raises(EdgekitError, match="did you mean litert"):
        emulate.setup_emulator(runtime="litrt")
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path))
    assert emulate.default_emulator_dir("aarch64", "litert") == tmp_path / "emulate" / "aarch64-litert"


REPO = Path(__file__).resolve().parent.parent


def test_userland_cache_key_is_the_recipe_alone():
    """CI's cache key and edgekit's own stamp both digest userland.py, and nothing else: editing guest.py or qemu.py
    reuses a cached userland. A renamed recipe fails here (hashFiles of a missing file would be a constant key)."""
    workflow = (REPO / ".github" / "workflows" / "ci.yml").read_text()
    (key_line,) = [line for line in workflow.splitlines() if "key: emulate-" in line]
    assert re.findall(r"hashFiles\('([^']+)'\)", key_line) == ["edgekit/emulate/userland.py"]
    recipe = REPO / "edgekit" / "emulate" / "userland.py"
    assert Path(userland.__file__).resolve() == recipe
    assert userland.recipe_digest() == hashlib.sha256(recipe.read_bytes()).hexdigest()[:16]


def _fake_userland(directory: Path, recipe: str) -> Path:
    (directory / "rootfs" / "usr" / "bin").mkdir(parents=True)
    (directory / "rootfs" / "usr" / "bin" / "python3").touch()
    (directory / emulate.STAMP).write_text(json.dumps({"format": 1, "recipe": recipe, "runtime": "litert"}))
    return directory / "rootfs"


def test_a_userland_from_another_recipe_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no build tools: reuse works, a rebuild cannot
    current = tmp_path / "current"
    rootfs = _fake_userland(current, userland.recipe_digest())
    assert emulate.setup_emulator(directory=current) == rootfs  # reused without any tool
    older = tmp_path / "older"
    _fake_userland(older, "0" * 16)
    assert emulate.read_stamp(older) is not None and not emulate.is_current(emulate.read_stamp(older))
    with pytest.raises(EdgekitError, match="qemu-aarch64-static"):  # it tries to rebuild (and here cannot)
        emulate.setup_emulator(directory=older)
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))
    _fake_userland(emulate.default_emulator_dir("aarch64", "litert"), "0" * 16)
    with pytest.raises(EdgekitError, match="another recipe.*edgekit emulate setup --guest-runtime litert"):
        emulate.find_userland(None, "litert")


def test_counting_plugin_is_package_data_with_the_runners_markers(tmp_path):
    """insn_count.c ships in the package (the wheel test checks the wheel) and counts between the same marker
    values the device runner emits; it compiles where the counting tools exist."""
    from edgekit.device import runner

    source = resources.files("edgekit.emulate").joinpath("insn_count.c").read_text()
    for name in ("MARK_START", "MARK_STOP"):
        (value,) = re.findall(rf"#define {name} (0x[0-9A-F]+)ULL", source)
        assert int(value, 16) == getattr(runner, name)
    if not _can_count():
        pytest.skip("compiling the plugin needs qemu-user (dynamic qemu-aarch64) and a C compiler")
    library = emulate.build_insn_plugin(tmp_path)
    assert library.stat().st_size > 0 and (tmp_path / "insn_count.c").read_text() == source
