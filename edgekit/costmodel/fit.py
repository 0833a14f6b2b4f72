"""Calibration of the cost model against published device latencies.

Builds the reference graphs (random weights: only the graph's shape matters to the cost model), converts them to
TFLite once and caches them under /tmp/edgekit-calib/, then predicts every published row
(benchmarks/published-device-latency.csv) and reports the error, split into rows used to fit constants and rows
held out.  `python -m edgekit.costmodel.fit [--fit] [--json]`
TensorFlow is imported only inside the build functions.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

CACHE_DIR = Path(os.environ.get("EDGEKIT_CALIB_DIR", "/tmp/edgekit-calib"))
PUBLISHED_CSV = Path(__file__).resolve().parent.parent.parent / "benchmarks" / "published-device-latency.csv"

# Published target ids that differ from ours.
TARGET_ALIASES = {"intel-npu-mtl": "intel-npu", "intel-npu-lnl": "intel-npu-lnl"}

# Runtimes whose rows are the same stack edgekit runs on that target (strong evidence); others (ncnn, executorch)
# are weaker evidence: a different kernel library on the same chip.
STRONG_RUNTIMES = {"tflite-xnnpack", "edgetpu", "openvino-npu"}

# Rows used to fit constants (target, model, precision). Everything else is held out and only evaluated.
# Each fitted constant is fitted on the row most sensitive to it (see fit_constants); the rest are held out.
FITTED_ROWS = {
    ("rpi4", "mobilenetv2", "int8"),  # rpi4 int8 efficiency scale
    ("rpi4", "mobilenetv1", "fp32"),  # rpi4 fp32 efficiency scale
    ("coral-usb", "mobilenetv1", "int8"),  # Edge TPU per-inference overhead (small model)
    ("coral-usb", "inceptionv1", "int8"),  # Edge TPU compute efficiency (1.5 GMACs, all weights cached)
    ("coral-usb", "vgg16", "int8"),  # link efficiency (138 MB of weights streamed)
    ("intel-npu", "mobilenetv2", "int8"),  # NPU per-inference overhead (its only row)
}


@dataclass(frozen=True)
class PublishedRow:
    target: str
    model: str
    input: int
    precision: str
    runtime: str
    threads: int
    latency_ms: float
    source: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.target, self.model, self.precision)

    @property
    def fitted(self) -> bool:
        return self.key in FITTED_ROWS

    @property
    def strong(self) -> bool:
        return self.runtime in STRONG_RUNTIMES


def published_rows(path: Path = PUBLISHED_CSV) -> list[PublishedRow]:
    if not path.is_file():  # e.g. an installed wheel: the table lives in the source tree's benchmarks/
        raise SystemExit(f"error: {path} not found: run calibration from an edgekit source checkout")
    with open(path, newline="") as f:
        return [
            PublishedRow(
                target=TARGET_ALIASES.get(r["target"], r["target"]),
                model=r["model"],
                input=int(r["input"]),
                precision=r["precision"],
                runtime=r["runtime"],
                threads=int(r["threads"]),
                latency_ms=float(r["latency_ms"]),
                source=r["source"],
            )
            for r in csv.DictReader(f)
        ]


# ---------------------------------------------------------------------------------------------------------------------
# Reference graphs


def _hand_built(name: str, size: int):
    """Architectures keras.applications lacks, built as in their papers (random weights)."""
    import keras
    from keras import layers

    inp = keras.Input((size, size, 3))
    if name == "alexnet":  # Caffe BVLC AlexNet (the ncnn benchmark's model): grouped convs, no LRN
        x = layers.Conv2D(96, 11, strides=4, activation="relu")(inp)
        x = layers.MaxPooling2D(3, 2)(x)
        x = layers.Conv2D(256, 5, padding="same", groups=2, activation="relu")(x)
        x = layers.MaxPooling2D(3, 2)(x)
        x = layers.Conv2D(384, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(384, 3, padding="same", groups=2, activation="relu")(x)
        x = layers.Conv2D(256, 3, padding="same", groups=2, activation="relu")(x)
        x = layers.MaxPooling2D(3, 2)(x)
        x = layers.Flatten()(x)
        x = layers.Dense(4096, activation="relu")(x)
        x = layers.Dense(4096, activation="relu")(x)
        out = layers.Dense(1000, activation="softmax")(x)
    elif name == "squeezenet":  # SqueezeNet 1.1

        def fire(x, s, e):
            x = layers.Conv2D(s, 1, activation="relu")(x)
            a = layers.Conv2D(e, 1, activation="relu")(x)
            b = layers.Conv2D(e, 3, padding="same", activation="relu")(x)
            return layers.Concatenate()([a, b])

        x = layers.Conv2D(64, 3, strides=2, activation="relu")(inp)
        x = layers.MaxPooling2D(3, 2)(x)
        x = fire(fire(x, 16, 64), 16, 64)
        x = layers.MaxPooling2D(3, 2)(x)
        x = fire(fire(x, 32, 128), 32, 128)
        x = layers.MaxPooling2D(3, 2)(x)
        x = fire(fire(fire(fire(x, 48, 192), 48, 192), 64, 256), 64, 256)
        x = layers.Conv2D(1000, 1, activation="relu")(x)
        x = layers.GlobalAveragePooling2D()(x)
        out = layers.Softmax()(x)
    elif name == "inceptionv1":  # GoogLeNet (TF-slim inception_v1, as in Coral's benchmark), with BatchNorm folded

        def cbr(x, f, k, s=1):
            return layers.Conv2D(f, k, strides=s, padding="same", activation="relu")(x)

        def module(x, f1, f3r, f3, f5r, f5, fp):
            a = cbr(x, f1, 1)
            b = cbr(cbr(x, f3r, 1), f3, 3)
            c = cbr(cbr(x, f5r, 1), f5, 3)  # slim uses 3x3 in the "5x5" branch
            d = cbr(layers.MaxPooling2D(3, 1, padding="same")(x), fp, 1)
            return layers.Concatenate()([a, b, c, d])

        x = cbr(inp, 64, 7, 2)
        x = layers.MaxPooling2D(3, 2, padding="same")(x)
        x = cbr(cbr(x, 64, 1), 192, 3)
        x = layers.MaxPooling2D(3, 2, padding="same")(x)
        x = module(x, 64, 96, 128, 16, 32, 32)
        x = module(x, 128, 128, 192, 32, 96, 64)
        x = layers.MaxPooling2D(3, 2, padding="same")(x)
        for cfg in [(192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64)]:
            x = module(x, *cfg)
        x = module(x, 112, 144, 288, 32, 64, 64)
        x = module(x, 256, 160, 320, 32, 128, 128)
        x = layers.MaxPooling2D(2, 2, padding="same")(x)
        x = module(x, 256, 160, 320, 32, 128, 128)
        x = module(x, 384, 192, 384, 48, 128, 128)
        x = layers.GlobalAveragePooling2D()(x)
        out = layers.Dense(1000, activation="softmax")(x)
    else:
        raise ValueError(name)
    return keras.Model(inp, out, name=name)


_KERAS_APPS = {
    "mobilenetv1": "MobileNet",
    "mobilenetv2": "MobileNetV2",
    "densenet121": "DenseNet121",
    "vgg16": "VGG16",
    "resnet50": "ResNet50",
    "efficientnetb0": "EfficientNetB0",
    "inceptionv3": "InceptionV3",
}


def build_keras(name: str, size: int = 224):
    """The zoo's model when it has it, else keras.applications / a hand-built graph (weights=None)."""
    return _build_keras_with_source(name, size)[0]


def _build_keras_with_source(name: str, size: int):
    try:
        from edgekit.models.registry import create_model

        return create_model(name, input_size=size, num_classes=1000, weights="none"), "edgekit zoo"
    except Exception:  # zoo not there yet, or lacks this model: the graph is what matters here
        pass
    if name in _KERAS_APPS:
        import keras

        app = getattr(keras.applications, _KERAS_APPS[name])
        return app(weights=None, input_shape=(size, size, 3)), f"keras.applications.{_KERAS_APPS[name]}"
    return _hand_built(name, size), "hand-built (edgekit.costmodel.fit)"


def convert_tflite(model, precision: str, size: int, samples: int = 2) -> bytes:
    """fp32 or full-integer int8 (int8 in/out; random representative data is fine for the graph's shape)."""
    import keras
    import numpy as np
    import tensorflow as tf

    # Batch pinned to 1 as on the devices (a dynamic batch adds SHAPE/PACK ops around Flatten that the Edge TPU
    # compiler cannot map, and published figures are for static graphs).
    inp = keras.Input((size, size, 3), batch_size=1)
    model = keras.Model(inp, model(inp))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision == "int8":
        rng = np.random.default_rng(0)

        def representative():
            for _ in range(samples):
                yield [rng.uniform(-1, 1, (1, size, size, 3)).astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif precision != "fp32":
        raise ValueError(precision)
    import warnings

    with warnings.catch_warnings():  # "Statistics for quantized inputs were expected": expected with int8 IO
        warnings.simplefilter("ignore", UserWarning)
        return converter.convert()


def calib_tflite(name: str, precision: str, size: int = 224, cache_dir: Path | None = None) -> Path:
    """Path of the cached reference .tflite, converting it the first time (VGG16 int8 takes minutes)."""
    from edgekit.ioutil import write_bytes_atomic

    cache = Path(cache_dir or CACHE_DIR)
    path = cache / f"{name}-{size}-{precision}.tflite"
    if not path.exists():
        model, source = _build_keras_with_source(name, size)
        write_bytes_atomic(path, convert_tflite(model, precision, size))
        write_bytes_atomic(path.with_suffix(".source.txt"), f"{source}\n".encode())
    return path


# ---------------------------------------------------------------------------------------------------------------------
# Evaluation

# Winograd F(6x6, 3x3): 8x8 multiplies per 6x6 outputs instead of 36 x 9 -> 324 / 64 = 5.06x fewer MACs.
WINOGRAD_F63 = 324 / 64


def _ncnn_winograd(graph):
    """ncnn (not LiteRT) runs stride-1 3x3 convolutions with >= 16 in/out channels as Winograd F(6,3): count the
    multiplies it does. Theoretical factor, not fitted; the transforms' cost is ignored."""
    from dataclasses import replace

    ops = []
    for op in graph.ops:
        w = op.inputs[1].shape if op.type == "CONV_2D" and len(op.inputs) > 1 else ()
        if (
            len(w) == 4 and w[1] == w[2] == 3 and op.options.get("stride") == (1, 1)
            and op.options.get("dilation") == (1, 1) and w[0] >= 16 and w[3] >= 16
        ):  # fmt: skip
            op = replace(op, macs=int(op.macs / WINOGRAD_F63))
        ops.append(op)
    return replace(graph, ops=tuple(ops))


# How another runtime's published row maps onto our graph (rows from LiteRT / Edge TPU / OpenVINO need none).
RUNTIME_GRAPH = {"ncnn": _ncnn_winograd}


def evaluate_rows(rows: list[PublishedRow] | None = None, cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """Predict every published row; one dict per row with predicted, ratio, fitted/held-out."""
    from edgekit.analyze.graph import load_graph, static_graph
    from edgekit.costmodel.predict import predict_graph
    from edgekit.targets import get_target

    out = []
    for row in rows or published_rows():
        path = calib_tflite(row.model, row.precision, row.input, cache_dir)
        target = get_target(row.target)
        graph = static_graph(load_graph(path))
        graph = RUNTIME_GRAPH.get(row.runtime, lambda g: g)(graph)
        res = predict_graph(graph, target, threads=row.threads, allow_any_format=True)
        pred = res["latency_ms"]["median"]
        out.append(
            {
                "target": row.target,
                "model": row.model,
                "precision": row.precision,
                "runtime": row.runtime,
                "threads": row.threads,
                "published_ms": row.latency_ms,
                "predicted_ms": round(pred, 3),
                "ratio": round(pred / row.latency_ms, 3),
                "fitted": row.fitted,
                "strong": row.strong,
            }
        )
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Fitting: one scalar per fitted row, found by bisection (latency is monotonic in each constant)

# Relative efficiency of the op classes, shared by every CPU target (XNNPACK: GEMM-based 1x1 convs are fastest,
# k x k convs pay for im2col / indirection, depthwise has little reuse, batch-1 FC is a GEMV).
CPU_REL = {"pointwise": 1.0, "conv": 0.9, "depthwise": 0.35, "fc": 0.5, "matmul": 0.8}


def _bisect(f, lo: float, hi: float, target: float, increasing: bool, iters: int = 60) -> float:
    """x in [lo, hi] with f(x) == target for a monotonic f (geometric bisection)."""
    for _ in range(iters):
        mid = (lo * hi) ** 0.5
        if (f(mid) < target) == increasing:
            lo = mid
        else:
            hi = mid
    return (lo * hi) ** 0.5


def _row_ms(row: PublishedRow, target, cache_dir: Path | None = None) -> float:
    """Predicted median for a published row with this (possibly modified) target."""
    from edgekit.analyze.graph import load_graph, static_graph
    from edgekit.costmodel.predict import predict_graph

    graph = static_graph(load_graph(calib_tflite(row.model, row.precision, row.input, cache_dir)))
    graph = RUNTIME_GRAPH.get(row.runtime, lambda g: g)(graph)
    return predict_graph(graph, target, threads=row.threads, allow_any_format=True)["latency_ms"]["median"]


# Edge TPU: a systolic array; depthwise convolutions use a fraction of it.
TPU_REL = {"pointwise": 1.0, "conv": 1.0, "depthwise": 0.3, "fc": 1.0, "matmul": 1.0}


def _tpu_efficiency(scale: float):
    from edgekit.targets import Efficiency

    return Efficiency(**{k: round(min(1.0, v * scale), 4) for k, v in TPU_REL.items()})


def _scaled_efficiency(scale: float):
    from edgekit.targets import Efficiency

    return Efficiency(**{k: round(min(1.0, v * scale), 4) for k, v in CPU_REL.items()})


def fit_cpu_efficiency(target, precision: str, latency_ms: Callable[[Any], float], measured_ms: float):
    """The target with its fp32 or int8 efficiency table scaled (CPU_REL x scale) so latency_ms(target) == measured."""
    from dataclasses import replace

    field = f"{precision}_efficiency"

    def with_scale(scale: float):
        return replace(target, cpu_cost=replace(target.cpu_cost, **{field: _scaled_efficiency(scale)}))

    scale = _bisect(lambda s: latency_ms(with_scale(s)), 0.01, 1.0, measured_ms, False)
    return with_scale(scale)


def fit_constants(cache_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """The constants each fitted row determines, for pasting into targets/*.toml (printed by --fit)."""
    from dataclasses import replace

    from edgekit.targets import get_target

    rows = {r.key: r for r in published_rows() if r.fitted}
    fitted: dict[str, dict[str, Any]] = {}

    rpi4 = get_target("rpi4")
    for model, precision in (("mobilenetv2", "int8"), ("mobilenetv1", "fp32")):
        row = rows[("rpi4", model, precision)]
        rpi4 = fit_cpu_efficiency(rpi4, precision, partial(_row_ms, row, cache_dir=cache_dir), row.latency_ms)
        fitted.setdefault("rpi4", {})[f"{precision}_efficiency"] = getattr(rpi4.cpu_cost, f"{precision}_efficiency")

    coral = get_target("coral-usb")
    acc_cost = coral.accelerator_cost
    assert acc_cost is not None
    small, mid, big = (rows[("coral-usb", m, "int8")] for m in ("mobilenetv1", "inceptionv1", "vgg16"))

    def tpu(**kw):
        return replace(coral, accelerator_cost=replace(acc_cost, **kw))

    for _ in range(6):  # three constants, each set by the row most sensitive to it: alternate until stable
        inv = _bisect(lambda v: _row_ms(small, tpu(invoke_overhead_us=v)), 1.0, 20000.0, small.latency_ms, True)
        acc_cost = replace(acc_cost, invoke_overhead_us=round(inv, 1))
        scale = _bisect(lambda v: _row_ms(mid, tpu(efficiency=_tpu_efficiency(v))), 0.01, 1.0, mid.latency_ms, False)
        acc_cost = replace(acc_cost, efficiency=_tpu_efficiency(scale))
        eff = _bisect(lambda v: _row_ms(big, tpu(link_efficiency=v)), 0.05, 1.0, big.latency_ms, False)
        acc_cost = replace(acc_cost, link_efficiency=round(eff, 3))
    fitted["coral-usb"] = {
        "efficiency": acc_cost.efficiency,
        "invoke_overhead_us": acc_cost.invoke_overhead_us,
        "link_efficiency": acc_cost.link_efficiency,
    }

    npu = get_target("intel-npu")
    ncost = npu.accelerator_cost
    assert ncost is not None
    row = rows[("intel-npu", "mobilenetv2", "int8")]
    inv = _bisect(
        lambda v: _row_ms(row, replace(npu, accelerator_cost=replace(ncost, invoke_overhead_us=v))),
        1.0, 20000.0, row.latency_ms, True,
    )  # fmt: skip
    fitted["intel-npu"] = {"invoke_overhead_us": round(inv, 1)}
    return fitted


def error_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    import statistics

    def stats(rs):
        errs = [abs(r["ratio"] - 1) for r in rs]
        worst = max((max(r["ratio"], 1 / r["ratio"]) for r in rs), default=None)
        return {"n": len(rs), "median_abs_error": statistics.median(errs) if errs else None, "worst_factor": worst}

    return {
        "held_out": stats([r for r in results if not r["fitted"]]),
        "held_out_strong": stats([r for r in results if not r["fitted"] and r["strong"]]),
        "fitted": stats([r for r in results if r["fitted"]]),
    }


# ---------------------------------------------------------------------------------------------------------------------
# Emulation-backed prediction: executed aarch64 instructions (QEMU as the Pi's CPU) x fitted cycles per instruction

# Rows that fit cycles per instruction (the same rows that fit the graph model's efficiencies); the rest held out.
INSN_FITTED_ROWS = {("rpi4", "mobilenetv2", "int8"), ("rpi4", "mobilenetv1", "fp32")}


def emulated_instructions(row: PublishedRow, cache_dir: Path | None = None) -> int:
    """Instructions one inference of the row's reference graph executes under QEMU as the target's CPU (cached)."""
    import json

    from edgekit.emulate import cpu_for_target, profile_emulated
    from edgekit.ioutil import sha256_file, write_json_atomic

    path = calib_tflite(row.model, row.precision, row.input, cache_dir)
    cpu = cpu_for_target(row.target)
    cached = path.with_name(f"{path.stem}.{cpu}.insn.json")
    digest = sha256_file(path)
    if cached.is_file():
        data = json.loads(cached.read_text())
        if data.get("sha256") == digest:
            return int(data["guest_instructions"])
    result = profile_emulated(path, row.target, cpu, runs=1, warmup=0)
    if not result.get("guest_instructions"):
        raise RuntimeError(f"{path.name} under {cpu}: {result.get('error') or result.get('guest_instructions_note')}")
    kept = {k: result[k] for k in ("guest_instructions", "runtime")}
    write_json_atomic(cached, {"sha256": digest, "cpu": cpu, **kept})
    return int(result["guest_instructions"])


def _cycles_per_instruction(row: PublishedRow, instructions: int, target) -> float:
    from edgekit.costmodel.predict import amdahl_speedup

    single_ms = row.latency_ms * amdahl_speedup(row.threads, target.cpu_cost.parallel_fraction)
    return single_ms * target.cpu.clock_ghz * 1e6 / instructions


def evaluate_instruction_rows(cache_dir: Path | None = None, fit: bool = False) -> list[dict[str, Any]]:
    """Published LiteRT/XNNPACK-family Pi rows predicted from emulated instruction counts.

    fit=True uses cycles per instruction from INSN_FITTED_ROWS (this run) instead of the target files' values.
    """
    from dataclasses import replace

    from edgekit.costmodel.predict import predict_from_instructions
    from edgekit.emulate import TARGET_CPUS
    from edgekit.targets import get_target

    rows = [r for r in published_rows() if r.target in TARGET_CPUS and r.runtime.endswith("xnnpack")]
    counts = {r.key: emulated_instructions(r, cache_dir) for r in rows}
    targets = {t: get_target(t) for t in {r.target for r in rows}}
    if fit:
        for r in rows:
            if r.key in INSN_FITTED_ROWS:
                t = targets[r.target]
                cpi = round(_cycles_per_instruction(r, counts[r.key], t), 4)
                field = "int8" if r.precision == "int8" else "fp32"
                targets[r.target] = replace(t, cpu_cost=replace(t.cpu_cost, **{f"{field}_cycles_per_instruction": cpi}))
    out = []
    for r in rows:
        guess = predict_from_instructions(counts[r.key], r.precision, targets[r.target], r.threads)
        pred = guess["latency_ms"]["median"] if guess["latency_ms"] else None
        out.append(
            {
                "target": r.target, "model": r.model, "precision": r.precision, "runtime": r.runtime,
                "threads": r.threads, "published_ms": r.latency_ms, "instructions": counts[r.key],
                "predicted_ms": pred, "ratio": None if pred is None else round(pred / r.latency_ms, 3),
                "fitted": r.key in INSN_FITTED_ROWS, "strong": r.strong,
                "cycles_per_instruction": getattr(
                    targets[r.target].cpu_cost, f"{'int8' if r.precision == 'int8' else 'fp32'}_cycles_per_instruction"
                ),
            }
        )  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Predicted vs published device latencies (fitted vs held out).")
    parser.add_argument("--fit", action="store_true", help="print the constants the fitted rows determine")
    parser.add_argument(
        "--instructions", action="store_true",
        help="predict the Pi rows from instruction counts under QEMU instead (needs `edgekit emulate setup`)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.instructions:
        return _print_instruction_rows(evaluate_instruction_rows(fit=args.fit), args.json)
    if args.fit:
        for target, values in fit_constants().items():
            print(f"# targets/{target}.toml")
            for k, v in values.items():
                if hasattr(v, "__dataclass_fields__"):
                    v = "{ " + ", ".join(f"{f} = {getattr(v, f)}" for f in v.__dataclass_fields__) + " }"
                print(f"{k} = {v}")
        return 0
    results = evaluate_rows()
    header = (f"{'target':15} {'model':12} {'prec':5} {'runtime':19} {'thr':>3} {'published':>9} {'predicted':>9} "
              f"{'ratio':>6}  role")  # fmt: skip

    def line(r: dict[str, Any]) -> str:
        return (f"{r['target']:15} {r['model']:12} {r['precision']:5} {r['runtime']:19} {r['threads']:>3} "
                f"{r['published_ms']:>9.2f} {r['predicted_ms']:>9.2f} {r['ratio']:>6.2f}")  # fmt: skip

    return _report(results, error_summary(results), args.json, header, line)


def _report(
    results: list[dict[str, Any]], summary: dict[str, Any], as_json: bool, header: str, line: Callable[..., str]
) -> int:
    """Rows and the error summary as JSON, or as a table (header, line(row) + role) with the summary under it."""
    import json

    if as_json:
        print(json.dumps({"rows": results, "summary": summary}, indent=2))
        return 0
    print(header)
    for r in results:
        role = "fitted" if r["fitted"] else "held-out" + ("" if r["strong"] else " (weak)")
        print(f"{line(r)}  {role}")
    for name, st in summary.items():
        if st["n"]:
            print(f"{name}: n={st['n']} median |error| {st['median_abs_error']:.1%}, worst {st['worst_factor']:.2f}x")
    return 0


def _print_instruction_rows(results: list[dict[str, Any]], as_json: bool) -> int:
    header = (f"{'target':7} {'model':12} {'prec':5} {'runtime':19} {'thr':>3} {'M insns':>8} {'CPI':>6} "
              f"{'published':>9} {'predicted':>9} {'ratio':>6}  role")  # fmt: skip

    def line(r: dict[str, Any]) -> str:
        pred = "-" if r["predicted_ms"] is None else f"{r['predicted_ms']:.2f}"
        cpi = "-" if r["cycles_per_instruction"] is None else f"{r['cycles_per_instruction']:.3f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        return (f"{r['target']:7} {r['model']:12} {r['precision']:5} {r['runtime']:19} {r['threads']:>3} "
                f"{r['instructions'] / 1e6:>8.1f} {cpi:>6} {r['published_ms']:>9.2f} {pred:>9} {ratio:>6}")  # fmt: skip

    summary = error_summary([r for r in results if r["ratio"] is not None])
    return _report(results, summary, as_json, header, line)


if __name__ == "__main__":
    raise SystemExit(main())
