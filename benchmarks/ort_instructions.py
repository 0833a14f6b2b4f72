"""ONNX Runtime's instructions per inference on an emulated Pi CPU, beside LiteRT's on the same model.

    nice -n 10 python benchmarks/ort_instructions.py [--target rpi4,rpi5] [--model inceptionv3@299,mobilenetv2@224]
                                  [--precision int8,fp32] [--timeout 7200]
    # -> edgekit/costmodel/data/ort-instructions.json (one entry per target, model, size and precision; package data,
    #    because `edgekit fit` reads it at run time)

The evidence for ONNX Runtime on the Pis without looking at a published ONNX Runtime latency: the reference model
(random weights; instruction counts do not depend on trained values) exported by edgekit's own ONNX path (keras2onnx;
for int8 then quantize_onnx with the settings edgekit picks on ARM: int8_settings("aarch64"), QDQ S8S8 per-channel), run
with onnxruntime's aarch64 wheel in the emulated userland under QEMU as the target's CPU, one thread, the guest
instructions of one steady-state inference counted by edgekit's TCG plugin (one warm-up run first). LiteRT's count
of the same model (the reference .tflite `edgekit fit --instructions` counts) is taken the same way.
The ratio onnx/litert is what edgekit.costmodel.fit applies to the fitted LiteRT cell to predict ONNX Runtime
(ort_cells); the ONNX count alone, x the target's LiteRT cycles per instruction, is the held-out ONNX Runtime row of
`edgekit fit --instructions`. Each (target, model, size, precision) entry is replaced when rerun, others are kept.
Under emulation on the 2-core machine, with the exports cached: MobileNetV2 seconds, InceptionV3 at 299 px about
20 s (INT8, A76) to 4-5 minutes (FP32) per runtime; exporting InceptionV3 takes minutes more the first time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _results import load_now, provenance

NAME = "ort-instructions"


def onnx_export(model: str, size: int, precision: str, cache: Path) -> tuple[Path, dict[str, Any]]:
    """The model exported to ONNX (int8: quantized as edgekit does for ARM), cached beside the reference .tflite."""
    from edgekit.costmodel.reference import definition_hash
    from edgekit.data.calibration import synthetic
    from edgekit.exporting.formats.onnx import OPSET, int8_settings, keras2onnx, quantize_onnx
    from edgekit.models.registry import create_model, get_spec

    path = cache / f"{model}-{size}-{precision}-{definition_hash(model, size, precision)}.arm.onnx"
    settings = int8_settings("aarch64", set())
    calib_n = 8
    about = {"quantization": None, "opset": OPSET, "calibration": {"source": "synthetic", "n": calib_n, "seed": 0}}
    if path.is_file() and path.with_suffix(".json").is_file():
        return path, json.loads(path.with_suffix(".json").read_text())
    keras_model = create_model(model, input_size=size, num_classes=1000, weights="none")
    with tempfile.TemporaryDirectory(prefix="ort-insn-") as tmp:
        work = Path(tmp)
        fp32 = keras2onnx(keras_model, work / ("model.onnx" if precision == "fp32" else "model-fp32.onnx"))
        if precision == "int8":
            calib = synthetic(calib_n, size, get_spec(model).preprocess)
            about["quantization"] = quantize_onnx(fp32, work / "model.onnx", calib, work, settings)
        else:
            about["calibration"] = None
        cache.mkdir(parents=True, exist_ok=True)
        (work / "model.onnx").replace(path)
    path.with_suffix(".json").write_text(json.dumps(about))
    return path, about


def count(path: Path, target: str, warmup: int, timeout: float) -> dict[str, Any]:
    from edgekit.emulate import cpu_for_target, profile_emulated

    started = time.perf_counter()
    result = profile_emulated(path, target, cpu_for_target(target), runs=1, warmup=warmup, timeout=timeout)
    if not result.get("guest_instructions"):
        sys.exit(f"{path.name}: {result.get('error') or result.get('guest_instructions_note')}")
    return {
        "file": path.name,
        "sha256": result["artifact"]["sha256"],
        "guest_instructions": result["guest_instructions"],
        "warmup_runs": warmup,
        "runtime": result["runtime"],
        "match_x86": result["match"],
        "max_abs_diff_x86": result["max_abs_diff"],
        "emulation": {k: result["emulation"][k] for k in ("qemu", "cpu")},
        "guest": result["guest"],
        "wall_s": round(time.perf_counter() - started, 1),
    }


def measure(target: str, model: str, size: int, precision: str, timeout: float) -> dict[str, Any]:
    from edgekit.costmodel.evidence import provenance as edgekit_provenance
    from edgekit.costmodel.reference import TFLITE_CACHE, reference_tflite

    onnx_path, about = onnx_export(model, size, precision, TFLITE_CACHE)
    litert_path = reference_tflite(model, precision, size)
    print(f"counting {onnx_path.name} and {litert_path.name} as {target}", file=sys.stderr)
    onnx = {**count(onnx_path, target, 1, timeout), **about}
    litert = count(litert_path, target, 1, timeout)
    return {
        "target": target, "model": model, "input": size, "precision": precision, "threads": 1,
        "onnxruntime": onnx, "litert": litert,
        "ratio": round(onnx["guest_instructions"] / litert["guest_instructions"], 4),
        "date": edgekit_provenance()["date"], "command": " ".join(["python", *sys.argv]),
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="rpi5", help="comma-separated: rpi4,rpi5")
    p.add_argument("--model", default="inceptionv3@299", help="comma-separated MODEL@INPUT_SIZE")
    p.add_argument("--precision", default="int8", help="comma-separated: int8,fp32")
    p.add_argument("--timeout", type=float, default=7200)
    args = p.parse_args()
    from edgekit.costmodel.constants import ORT_INSTRUCTIONS_JSON as path
    from edgekit.ioutil import write_json_atomic

    load_before = load_now()
    for target in args.target.split(","):
        for item in args.model.split(","):
            model, _, size = item.partition("@")
            for precision in args.precision.split(","):
                entry = measure(target, model, int(size or 224), precision, args.timeout)
                old = json.loads(path.read_text()).get("entries", []) if path.is_file() else []
                key = (target, model, int(size or 224), precision)
                kept = [e for e in old if (e["target"], e["model"], e["input"], e["precision"]) != key]
                record = {"benchmark": NAME, **provenance(), "command": entry["command"], "load_before": load_before,
                          "entries": sorted([*kept, entry], key=lambda e: (e["target"], e["model"], e["input"],
                                                                           e["precision"]))}  # fmt: skip
                write_json_atomic(path, record)  # after each entry: a long run keeps what it counted
                print(json.dumps(entry, indent=1))


if __name__ == "__main__":
    main()
