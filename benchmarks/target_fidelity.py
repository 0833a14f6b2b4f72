"""An INT8 ONNX model quantized for this x86 host vs one exported with --target for a Pi, both run under the emulated
Pi (QEMU user mode as its CPU) and compared with the same file on x86: the case of issue #28.

    python benchmarks/target_fidelity.py [--model mobilenetv2] [--target rpi5] [--input-size 224]
    # -> benchmarks/results/target-fidelity.json

Each step is the command a user runs (`edgekit export ... --json`, `edgekit profile ... --emulate --json`); the
exit code of the emulated check is recorded beside its result (3: a mismatch, with its cause on stderr). Needs the
emulated userland (`edgekit emulate setup`); takes minutes (the full-size model under QEMU).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import load_now, write_result  # noqa: E402

NAME = "target-fidelity"


def edgekit(*args: str) -> tuple[int, Any, str]:
    """(exit code, the --json document or None, the last stderr line) of one edgekit command."""
    cmd = [sys.executable, "-c", "import sys; from edgekit.cli.app import main; main(sys.argv[1:])", *args, "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        doc = None
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    return proc.returncode, doc, lines[-1] if lines else ""


def emulated(path: str, target: str) -> dict[str, Any]:
    code, doc, last = edgekit("profile", path, "--target", target, "--emulate", "--no-save")
    result = (doc or [{}])[0] if isinstance(doc, list) else (doc or {})
    keep = ("match", "max_abs_diff", "max_quant_steps", "max_rel_diff", "status", "error", "quantized_for")
    return {"exit_code": code, "message": last if code else "", **{k: result.get(k) for k in keep if k in result}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mobilenetv2")
    p.add_argument("--target", default="rpi5")
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--weights", default="none", help="none: random weights, re-estimated BatchNorm (offline)")
    args = p.parse_args()
    load_before = load_now()
    rows = []
    with tempfile.TemporaryDirectory() as out:
        common = [args.model, "--int8", "--format", "onnx", "--input-size", str(args.input_size)]
        common += ["--weights", args.weights, "--out", out]
        for label, extra in (("host", []), (args.target, ["--target", args.target])):
            code, records, last = edgekit("export", *common, *extra)
            if code not in (0, 3) or not records:
                raise SystemExit(f"export for {label} failed ({code}): {last}")
            (record,) = [r for r in records if r["format"] == "onnx"]
            manifest = json.loads(Path(record["manifest"]).read_text())
            rows.append(
                {
                    "exported_for": label,
                    "folder": Path(record["path"]).parent.name,
                    "quantization": {k: manifest["quantization"].get(k) for k in ("activation_type", "reduce_range")},
                    "fidelity_on_target": record.get("fidelity_on_target") or manifest.get("fidelity_on_target"),
                    "emulated_check": emulated(record["path"], args.target),
                }
            )
            print(json.dumps(rows[-1], indent=1), file=sys.stderr)
    write_result(
        NAME,
        {"load_before": load_before, "model": args.model, "input_size": args.input_size, "target": args.target,
         "rows": rows},
        timed=False,  # fidelity, not time: the load does not move it
    )  # fmt: skip


if __name__ == "__main__":
    main()
