"""INT8 vs FP32 speed per runtime, and edgekit's INT8 settings against the alternatives, measured side by side.

    python benchmarks/int8_speed.py [--models mobilenetv2,efficientnetb0,squeezenet] [--size 224] [--rounds 7]
                                    [--calib-size 32] [--batch-seconds 0.3] [--layers auto|always|never]
                                    [--cache /tmp/edgekit-int8-speed] [--rebuild] [--target 2.0] [--tolerance 0.05]

What it proves, per model (random weights: speed does not depend on trained values):
  1. speed-up of each runtime's INT8 artifact over its FP32 artifact at ONE thread (ONNX Runtime, OpenVINO, LiteRT),
     against the --target (2x);
  2. that edgekit's INT8 choice is within --tolerance (5 %) of the fastest alternative:
     ONNX Runtime  U8S8 vs S8S8, per-channel vs per-tensor, reduce_range on/off (all QDQ from the same FP32 graph);
     OpenVINO      NNCF preset performance (edgekit) vs mixed;
     LiteRT        full-integer with int8 I/O (edgekit's default) vs float I/O;
  3. where INT8 misses the target: which ops hold it back, per op type and per layer (FP32 vs INT8), from ONNX Runtime's
     profiler, OpenVINO's performance counters and LiteRT per-op timing (edgekit.device.runner.profile_ops), plus the
     top layers from edgekit.profile.measure.measure_artifact.

How: artifacts are made once (cached under --cache) in a child process with edgekit's export API
(edgekit.export.core.export, --calib-size builtin images), plus the alternative quantizations of the same FP32
ONNX / OpenVINO files. Timing then runs in this process without TensorFlow loaded: every artifact is loaded once, and
the rounds interleave all of them (the order rotates each round), each turn timing a short batch of single-threaded
inferences and keeping its median. A variant's latency is the best of those per-round medians; ratios are also given
as the median of per-round ratios (both runs of a pair ran seconds apart under the same load of this shared machine).

Exit status 0 (a measurement, not a test).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MODELS = ("mobilenetv2", "efficientnetb0", "squeezenet")
DEFAULT_CACHE = Path("/tmp/edgekit-int8-speed")

# ONNX Runtime alternatives: (label, activation type, weight type, per_channel, reduce_range).
ONNX_VARIANTS = [
    ("U8S8 per-channel", "QUInt8", "QInt8", True, False),
    ("U8S8 per-channel reduce_range", "QUInt8", "QInt8", True, True),
    ("S8S8 per-channel", "QInt8", "QInt8", True, False),
    ("S8S8 per-channel reduce_range", "QInt8", "QInt8", True, True),
    ("U8S8 per-tensor", "QUInt8", "QInt8", False, False),
    ("S8S8 per-tensor", "QInt8", "QInt8", False, False),
]


def slug(label: str) -> str:
    return label.lower().replace(" ", "-").replace("_", "-")


# ============================================================================================= build (child process)
def build(model: str, size: int, calib_size: int, root: Path, rebuild: bool) -> None:
    """All artifacts of one model under root/<model>-<size>/ (skipped when present, unless rebuild)."""
    from edgekit.export.core import ExportOptions, export

    base = root / f"{model}-{size}"
    done = base / "built.json"
    if done.exists() and not rebuild:
        return
    common = dict(model=model, input_size=size, calib_size=calib_size, holdout=8, layer_report=False, threads=1)
    t0 = time.perf_counter()
    for precision in ("fp32", "int8"):  # edgekit's own choices, all three default formats
        check(export(ExportOptions(precision=precision, out=base / "edgekit", **common)))
    # LiteRT full-integer with float input/output: edgekit's --io float.
    check(export(ExportOptions(precision="int8", formats=("tflite",), io="float", out=base / "io-float", **common)))
    onnx_variants(model, size, calib_size, base)
    openvino_variants(model, size, calib_size, base)
    done.write_text(json.dumps({"seconds": time.perf_counter() - t0, "calib_size": calib_size}))


def check(records: list[dict[str, Any]]) -> None:
    for r in records:
        if r["status"] == "failed":
            raise SystemExit(f"export failed: {r['format']} {r['precision']}: {r.get('error')}")


def calibration(model: str, size: int, calib_size: int):
    """The same images export() calibrates on (builtin, seed 0)."""
    from edgekit import data
    from edgekit.models.registry import get_spec

    return data.builtin(calib_size, size, get_spec(model).preprocess, 0)


def onnx_variants(model: str, size: int, calib_size: int, base: Path) -> None:
    """Quantize the FP32 ONNX edgekit exported, once with edgekit's own code and settings, then each alternative."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edgekit.export.onnx import _input_name, int8_settings, quantize_onnx

    src = base / "edgekit" / model / "onnx-fp32" / "model.onnx"
    out = base / "onnx"
    out.mkdir(parents=True, exist_ok=True)
    calib = calibration(model, size, calib_size)
    settings = int8_settings()
    quantize_onnx(src, out / "edgekit.onnx", calib, out, settings)  # edgekit's path, same float graph as the others
    (out / "edgekit.json").write_text(json.dumps(settings))
    pre = out / "preprocessed.onnx"
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)  # what quantize_onnx does first
    name = _input_name(pre)
    for label, act, wt, per_channel, reduce_range in ONNX_VARIANTS:
        quantize_static(
            str(pre),
            str(out / f"{slug(label)}.onnx"),
            calib.onnx_reader(name),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            reduce_range=reduce_range,
            activation_type=getattr(QuantType, act),
            weight_type=getattr(QuantType, wt),
            calibrate_method=CalibrationMethod.MinMax,
        )


def openvino_variants(model: str, size: int, calib_size: int, base: Path) -> None:
    """NNCF on the FP32 IR edgekit exported: edgekit's nncf_quantize (preset performance) and preset mixed."""
    import nncf
    import openvino as ov

    from edgekit.export.openvino import nncf_quantize

    src = base / "edgekit" / model / "openvino-fp32" / "model.xml"
    out = base / "openvino"
    out.mkdir(parents=True, exist_ok=True)
    calib = calibration(model, size, calib_size)
    core = ov.Core()
    quantized, meta = nncf_quantize(core.read_model(str(src)), calib, model)
    ov.save_model(quantized, str(out / "edgekit.xml"), compress_to_fp16=False)
    (out / "edgekit.json").write_text(json.dumps(meta))
    nncf.set_log_level(40)
    for preset in (nncf.QuantizationPreset.PERFORMANCE, nncf.QuantizationPreset.MIXED):
        q = nncf.quantize(core.read_model(str(src)), calib.nncf_dataset(), subset_size=len(calib), preset=preset)
        ov.save_model(q, str(out / f"preset-{preset.value}.xml"), compress_to_fp16=False)


# ================================================================================================ timing (this process)
@dataclass
class Variant:
    runtime: str  # onnxruntime | openvino | litert
    label: str
    path: Path
    role: str  # fp32 | int8 (the exported INT8 artifact) | alt (a settings alternative) | context
    chosen: bool = False  # edgekit's setting among the alternatives
    precision: str = "int8"  # OpenVINO: fp32 compiles with INFERENCE_PRECISION_HINT=f32
    hint: str | None = None  # OpenVINO inference precision override for context rows
    run: Callable[[], Any] | None = field(default=None, repr=False)
    batch: int = 10
    medians: list[float] = field(default_factory=list)


def variants_of(model: str, size: int, root: Path) -> list[Variant]:
    base = root / f"{model}-{size}"
    ek = base / "edgekit" / model
    onnx_choice = json.loads((base / "onnx" / "edgekit.json").read_text())
    io_float = base / "io-float" / model / "tflite-int8"
    out = [
        Variant("onnxruntime", "FP32", ek / "onnx-fp32" / "model.onnx", "fp32", precision="fp32"),
        Variant("onnxruntime", "INT8 (edgekit export)", ek / "onnx-int8" / "model.onnx", "int8"),
        Variant("onnxruntime", f"edgekit: {describe_onnx(onnx_choice)}", base / "onnx" / "edgekit.onnx", "alt", True),
    ]
    for label, *_ in ONNX_VARIANTS:
        out.append(Variant("onnxruntime", label, base / "onnx" / f"{slug(label)}.onnx", "alt"))
    out += [
        Variant("openvino", "FP32 (f32 hint)", ek / "openvino-fp32" / "model.xml", "fp32", precision="fp32"),
        Variant("openvino", "FP32 IR, default hint (bf16)", ek / "openvino-fp32" / "model.xml", "context", hint="bf16"),
        Variant("openvino", "INT8 (edgekit export)", ek / "openvino-int8" / "model.xml", "int8"),
        Variant("openvino", "edgekit: nncf_quantize", base / "openvino" / "edgekit.xml", "alt", True),
        Variant("openvino", "preset performance", base / "openvino" / "preset-performance.xml", "alt"),
        Variant("openvino", "preset mixed", base / "openvino" / "preset-mixed.xml", "alt"),
        Variant("litert", "FP32", ek / "tflite-fp32" / "model.tflite", "fp32", precision="fp32"),
        Variant("litert", "INT8 int8 I/O (edgekit default)", ek / "tflite-int8" / "model.tflite", "int8", True),
        Variant("litert", "INT8 float I/O (--io float)", io_float / "model.tflite", "alt"),
    ]  # fmt: skip
    # The exported INT8 TFLite is edgekit's choice and an alternative at once.
    for v in out:
        if v.runtime == "litert" and v.role == "int8":
            v.role = "int8+alt"
    return out


def describe_onnx(s: dict[str, Any]) -> str:
    act = "U8" if s["activation_type"] == "QUInt8" else "S8"
    wt = "U8" if s["weight_type"] == "QUInt8" else "S8"
    return f"{act}{wt} per-channel{' reduce_range' if s['reduce_range'] else ''}"


def random_input(shape, dtype) -> np.ndarray:
    rng = np.random.default_rng(0)
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max + 1, size=shape).astype(dtype)
    return rng.random(size=shape).astype(dtype)


def ort_session(path: Path, profile_prefix: str | None = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def ov_config(v: Variant, perf_count: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = {"INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
    if v.precision == "fp32" and v.hint is None:
        config["INFERENCE_PRECISION_HINT"] = "f32"  # this CPU has bf16: OpenVINO would silently use it
    if perf_count:
        config["PERF_COUNT"] = True
    return config


def load(v: Variant) -> Callable[[], Any]:
    if v.runtime == "onnxruntime":
        sess = ort_session(v.path)
        i = sess.get_inputs()[0]
        feeds = {i.name: random_input([d if isinstance(d, int) else 1 for d in i.shape], np.float32)}
        return lambda: sess.run(None, feeds)
    if v.runtime == "openvino":
        import openvino as ov

        core = ov.Core()
        compiled = core.compile_model(core.read_model(str(v.path)), "CPU", ov_config(v))
        req = compiled.create_infer_request()
        port = compiled.inputs[0]
        req.set_input_tensor(0, ov.Tensor(random_input(list(port.get_shape()), np.float32)))
        return req.infer
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(v.path), num_threads=1)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], random_input(list(d["shape"]), d["dtype"]))
    return it.invoke


def time_batch(run: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        run()
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(times)


def measure_interleaved(variants: list[Variant], rounds: int, batch_seconds: float) -> None:
    for v in variants:
        v.run = load(v)
        v.run()  # first inference: allocations, kernel selection
        one = time_batch(v.run, 3)
        v.batch = int(min(60, max(3, round(batch_seconds * 1000 / max(one, 1e-3)))))
    for r in range(rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        if r % 2:
            order = order[::-1]
        for v in order:
            v.medians.append(time_batch(v.run, v.batch))
        print(f"  round {r + 1}/{rounds} done (load average {os.getloadavg()[0]:.1f})", flush=True)


def best(v: Variant) -> float:
    return min(v.medians)


def paired(a: Variant, b: Variant) -> float:
    """Median over rounds of a/b (each pair measured in the same round)."""
    return statistics.median(x / y for x, y in zip(a.medians, b.medians, strict=True))


# ============================================================================================== per-op breakdowns
def ort_ops(path: Path, runs: int) -> tuple[dict[str, float], dict[str, int], dict[str, float]]:
    """(ms per op type, node count per op type, ms per node) from ONNX Runtime's profiler, mean over runs."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="int8-speed-ort-") as tmp:
        sess = ort_session(path, str(Path(tmp) / "p"))
        i = sess.get_inputs()[0]
        feeds = {i.name: random_input([d if isinstance(d, int) else 1 for d in i.shape], np.float32)}
        sess.run(None, feeds)
        for _ in range(runs):
            sess.run(None, feeds)
        events = json.loads(Path(sess.end_profiling()).read_text())
    per_node: dict[str, list[float]] = {}
    node_op: dict[str, str] = {}
    for e in events:
        if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time"):
            node = e["name"][: -len("_kernel_time")]
            per_node.setdefault(node, []).append(e.get("dur", 0) / 1000.0)
            node_op[node] = (e.get("args") or {}).get("op_name", "?")
    ms_node = {n: sum(t[1:] or t) / len(t[1:] or t) for n, t in per_node.items()}  # drop the warm-up run
    return group(ms_node, node_op)


def ov_ops(v: Variant, runs: int) -> tuple[dict[str, float], dict[str, int], dict[str, float]]:
    """Per OpenVINO node type + kernel (exec_type), from PERF_COUNT, mean over runs."""
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(v.path)), "CPU", ov_config(v, perf_count=True))
    req = compiled.create_infer_request()
    req.set_input_tensor(0, ov.Tensor(random_input(list(compiled.inputs[0].get_shape()), np.float32)))
    req.infer()
    totals: dict[str, float] = {}
    node_op: dict[str, str] = {}
    for _ in range(runs):
        req.infer()
        for info in req.profiling_info:
            if info.status != info.Status.EXECUTED:
                continue
            totals[info.node_name] = totals.get(info.node_name, 0.0) + info.real_time.total_seconds() * 1e3 / runs
            node_op[info.node_name] = f"{info.node_type} [{info.exec_type}]"
    return group(totals, node_op)


def litert_ops(path: Path) -> tuple[dict[str, float], dict[str, int], dict[str, float]]:
    """LiteRT has no per-op profiler in Python: edgekit's device runner times each op alone (one-op models)."""
    from ai_edge_litert.interpreter import Interpreter

    from edgekit.device.runner import profile_ops

    it = Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    rows = profile_ops(path, Interpreter, [random_input(list(d["shape"]), d["dtype"])], 1)
    ms = {f"{r['index']}:{r['name']}": r["time_ms"] for r in rows}
    ops = {f"{r['index']}:{r['name']}": r["op"] for r in rows}
    return group(ms, ops)


def group(ms_node: dict[str, float], node_op: dict[str, str]):
    by_op: dict[str, float] = {}
    count: dict[str, int] = {}
    for node, ms in ms_node.items():
        op = node_op.get(node, "?")
        by_op[op] = by_op.get(op, 0.0) + ms
        count[op] = count.get(op, 0) + 1
    return by_op, count, ms_node


def print_breakdown(runtime: str, fp32: Variant, int8: Variant, runs: int, top: int) -> None:
    print(f"\n  -- {runtime}: where the time goes, FP32 vs INT8 (per op type, single thread)")
    if runtime == "onnxruntime":
        f, i = ort_ops(fp32.path, runs), ort_ops(int8.path, runs)
    elif runtime == "openvino":
        f, i = ov_ops(fp32, runs), ov_ops(int8, runs)
    else:
        f, i = litert_ops(fp32.path), litert_ops(int8.path)
    for title, (by_op, count, _) in (("FP32", f), ("INT8", i)):
        total = sum(by_op.values())
        print(f"  {title}: summed op time {total:.2f} ms")
        print(f"    {'op type':<58} {'nodes':>5} {'ms':>8} {'%':>6}")
        for op, ms in sorted(by_op.items(), key=lambda kv: -kv[1])[:top]:
            print(f"    {op[:58]:<58} {count[op]:>5} {ms:>8.3f} {100 * ms / total:>6.1f}")
    print(f"  top layers of the INT8 artifact (edgekit.profile.measure.measure_artifact, {int8.path.name}):")
    try:
        from edgekit.profile.measure import measure_artifact

        res = measure_artifact(int8.path, threads=1, runs=10, min_seconds=0.3, warmup=2, profile_layers=True)
        res_f = measure_artifact(fp32.path, threads=1, runs=10, min_seconds=0.3, warmup=2, profile_layers=True)
        for tag, r in (("FP32", res_f), ("INT8", res)):
            print(f"    {tag}: median {r['latency_ms']['median']:.2f} ms; {r.get('layers_note') or ''}")
            for layer in (r.get("layers") or [])[:6]:
                extra = f" [{layer['exec_type']}]" if layer.get("exec_type") else ""
                name = layer["name"][-48:]
                print(f"      {layer['time_ms']:>8.3f} ms {layer['percent']:>5.1f}%  {layer['op']}{extra}  {name}")
    except Exception as exc:  # a diagnostic: keep the tables above
        print(f"    measure_artifact failed: {type(exc).__name__}: {str(exc)[:200]}")


# ================================================================================================== report
def report(model: str, variants: list[Variant], target: float, tolerance: float) -> list[dict[str, Any]]:
    rows = []
    print(f"\n== {model}: latency, single thread (best of {len(variants[0].medians)} interleaved rounds)")
    print(f"  {'runtime':<12} {'variant':<40} {'role':<8} {'best ms':>8} {'rounds ms (min-max)':>20} {'vs FP32':>8}")
    for runtime in ("onnxruntime", "openvino", "litert"):
        vs = [v for v in variants if v.runtime == runtime]
        fp32 = next(v for v in vs if v.role == "fp32")
        for v in vs:
            spread = f"{min(v.medians):.2f}-{max(v.medians):.2f}"
            speed = best(fp32) / best(v)
            mark = " *" if v.chosen else ""
            print(f"  {runtime:<12} {v.label + mark:<40} {v.role:<8} {best(v):>8.2f} {spread:>20} {speed:>7.2f}x")
    print("  (* = edgekit's choice; vs FP32 = FP32 best / variant best)")

    print(f"\n  {'runtime':<12} {'INT8 speed-up (best)':>20} {'(paired median)':>16} {'target':>7} {'verdict':>8}")
    for runtime in ("onnxruntime", "openvino", "litert"):
        vs = [v for v in variants if v.runtime == runtime]
        fp32 = next(v for v in vs if v.role == "fp32")
        int8 = next(v for v in vs if v.role.startswith("int8"))
        s_best, s_pair = best(fp32) / best(int8), paired(fp32, int8)
        ok = "ok" if s_best >= target else "MISS"
        print(f"  {runtime:<12} {s_best:>19.2f}x {s_pair:>15.2f}x {target:>6.1f}x {ok:>8}")
        alts = [v for v in vs if v.role in ("alt", "int8+alt")]
        chosen = next(v for v in alts if v.chosen)
        fastest = min(alts, key=best)
        slower_best = best(chosen) / best(fastest) - 1
        slower_pair = paired(chosen, fastest) - 1
        rows.append(
            {
                "model": model,
                "runtime": runtime,
                "fp32_ms": best(fp32),
                "int8_ms": best(int8),
                "speedup": s_best,
                "speedup_paired": s_pair,
                "chosen": chosen.label,
                "fastest": fastest.label,
                "chosen_slower": slower_best,
                "chosen_slower_paired": slower_pair,
                "fp32": fp32,
                "int8": int8,
            }
        )
    print(f"\n  {'runtime':<12} {'edgekit choice':<40} {'fastest alternative':<32} {'slower':>8} {'paired':>8} verdict")
    for r in rows[-3:]:
        ok = "ok" if r["chosen_slower"] <= tolerance else "SLOWER"
        print(
            f"  {r['runtime']:<12} {r['chosen']:<40} {r['fastest']:<32} {100 * r['chosen_slower']:>7.1f}% "
            f"{100 * r['chosen_slower_paired']:>7.1f}% {ok}"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated registered model names")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds (best-of-N medians)")
    ap.add_argument("--batch-seconds", type=float, default=0.3, help="seconds per variant per round")
    ap.add_argument("--calib-size", type=int, default=32)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where artifacts are built and reused")
    ap.add_argument("--rebuild", action="store_true", help="rebuild cached artifacts")
    ap.add_argument("--target", type=float, default=2.0, help="INT8 speed-up asked for")
    ap.add_argument("--tolerance", type=float, default=0.05, help="how much slower edgekit's choice may be")
    ap.add_argument("--layers", choices=("auto", "always", "never"), default="auto",
                    help="per-op breakdown: auto = only for runtimes below --target")  # fmt: skip
    ap.add_argument("--profile-runs", type=int, default=10)
    ap.add_argument("--top", type=int, default=8, help="op types listed in breakdowns")
    ap.add_argument("--phase", choices=("all", "build"), default="all", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]

    if args.phase == "build":
        from edgekit.export.quiet import quiet_env

        quiet_env()
        for m in models:
            build(m, args.size, args.calib_size, args.cache, args.rebuild)
        return 0

    for m in models:  # build in a child: TensorFlow stays out of the timing process
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--phase", "build", "--models", m, "--size", str(args.size)]
        cmd += ["--calib-size", str(args.calib_size), "--cache", str(args.cache)]
        cmd += ["--rebuild"] if args.rebuild else []
        subprocess.run(cmd, check=True)
        print(f"artifacts for {m} ready in {time.perf_counter() - t0:.0f} s ({args.cache / f'{m}-{args.size}'})")

    from edgekit.export.onnx import int8_settings

    print(f"\nedgekit's ONNX Runtime choice on this CPU: {int8_settings()}")
    all_rows = []
    for m in models:
        variants = variants_of(m, args.size, args.cache)
        print(f"\ntiming {m} at {args.size} px: {len(variants)} artifacts, {args.rounds} interleaved rounds, 1 thread")
        measure_interleaved(variants, args.rounds, args.batch_seconds)
        rows = report(m, variants, args.target, args.tolerance)
        all_rows += rows
        for r in rows:
            if args.layers == "always" or (args.layers == "auto" and r["speedup"] < args.target):
                print_breakdown(r["runtime"], r["fp32"], r["int8"], args.profile_runs, args.top)
        for v in variants:
            v.run = None  # free the sessions before the next model

    print(f"\n== summary ({args.size} px, 1 thread, best-of-{args.rounds} medians)")
    print(f"  {'model':<16} {'runtime':<12} {'FP32 ms':>8} {'INT8 ms':>8} {'speed-up':>9} {'choice vs fastest':>18}")
    for r in all_rows:
        print(
            f"  {r['model']:<16} {r['runtime']:<12} {r['fp32_ms']:>8.2f} {r['int8_ms']:>8.2f} {r['speedup']:>8.2f}x "
            f"{100 * r['chosen_slower']:>+17.1f}%"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
