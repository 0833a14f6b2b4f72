"""Labelled accuracy of FP32 and full-integer INT8 (TFLite, ONNX, OpenVINO), side by side, on real images.

    python benchmarks/accuracy.py [--models mobilenetv2,squeezenet,efficientnetlite0,efficientnetb0] [--size 32]
                                  [--epochs 30] [--alpha 0.35] [--calib-size 200] [--work /tmp/edgekit-accuracy]
                                  [--patience 6] [--jobs 4] [--resume] [--reuse-trained] [--update-readme]

Each model is trained by `edgekit train` on builtin:digits (scikit-learn's 1797 handwritten digits, 8x8 upscaled to
--size; stratified 80/20 split) and exported by `edgekit export --int8` with no data options: the training images
calibrate and the validation images (never trained on, never calibrated on) measure labelled accuracy. No ImageNet
weights can be downloaded here, so `--strategy auto` falls back to training from scratch (recorded per row).

Bar (issue 13): FP32 validation accuracy >= 95 % and INT8 within 1.0 percentage point of it, per runtime. Where a
model loses more, export is asked for --max-accuracy-drop 0.01: it runs the TFLite quantization debugger and names
the layers to keep float; those are exported again with --keep-float (mixed precision, up to FIX_ROUNDS times) and
both, the layers and the accuracy after keeping them float, go into the row's "keep_float_fix".
Rows of models not run this time are kept from the earlier file (each row carries its own date and commit).

Writes benchmarks/results/accuracy.json (tool versions, git commit, machine, date); --update-readme regenerates the
table between the accuracy markers in docs/evidence.md from that file.
Exit status 0 (a measurement, not a test).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared writer beside this script
import _results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "accuracy.json"
MODELS = ("mobilenetv2", "squeezenet", "efficientnetlite0", "efficientnetb0")
FORMATS = ("tflite", "onnx", "openvino")
FP32_BAR, DROP_BAR_PP = 0.95, 1.0
# What peers publish for the architecture naive INT8 breaks (ImageNet top-1; shared/reference/int8-accuracy.md).
PUBLISHED = [
    {
        "model": "efficientnetb0",
        "fp32": 77.70,
        "int8": 77.10,
        "method": "NNCF post-training quantization",
        "source": "openvinotoolkit/nncf tests/post_training/data/ptq_reference_data.yaml",
    },
    {
        "model": "efficientnetb0",
        "fp32": 67.12,
        "int8": 38.92,
        "method": "a naive quantizer, where swish and squeeze-excite collapse",
        "source": "sophgo/tpu_compiler regression net_accuracy.md",
    },
]
FIX_ROUNDS = 2  # --keep-float rounds: the suggestion after a first round names the next-worst layers
README_BEGIN, README_END = "<!-- evidence:accuracy -->", "<!-- /evidence:accuracy -->"  # benchmarks/readme_evidence.py


def train_and_export(model: str, args: argparse.Namespace) -> dict[str, Any]:
    """One model: train on the digits, export INT8 to the three runtimes, collect the labelled accuracies."""
    from edgekit.data.labelled import one_line
    from edgekit.exporting.options import ExportOptions
    from edgekit.exporting.pipeline import export
    from edgekit.training.loop import TrainOptions, train

    def say(msg: str) -> None:
        one_line(f"  [{model}] {msg}")  # stderr's own handle: TensorFlow's logs are silenced on fd 1 and 2

    alpha = args.alpha if model.startswith("mobilenet") else None
    resume = args.resume and (args.work / f"{model}-digits" / "keras" / ".checkpoint" / "state.json").exists()
    t0 = time.perf_counter()
    opts = TrainOptions(model, "builtin:digits", epochs=args.epochs, input_size=args.size, alpha=alpha, out=args.work)
    opts.patience = args.patience
    opts.resume = resume
    trained = trained_before(model, args) if args.reuse_trained else None
    if trained is None:
        trained = train(opts, say=say)
        train_s = round(time.perf_counter() - t0, 1)
    else:
        say(f"reusing {trained['model_path']} (trained earlier: val accuracy {trained['val_accuracy']:.3f})")
        train_s = trained["train_s"]
    t0 = time.perf_counter()
    export_opts = ExportOptions(
        trained["model_path"], "int8", FORMATS, calib_size=args.calib_size, out=args.work / "exports", layer_report=None
    )
    export_opts.max_accuracy_drop = DROP_BAR_PP  # in pp; beyond the bar: export names the layers to keep float
    records = export(export_opts, on_step=say)
    row: dict[str, Any] = {
        "model": model,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git_commit": git_commit(),
        "loadavg_1min": machine().get("loadavg_1min"),
        "alpha": alpha,
        "input_size": args.size,
        "resumed": resume,
        "strategy": trained["strategy"],
        "strategy_reason": trained["strategy_reason"],
        "weights": trained["weights"],
        "epochs_run": trained["epochs_run"],
        "train_images": trained["train_images"],
        "val_images": trained["val_images"],
        "fp32_val_accuracy": trained["val_accuracy"],
        "batchnorm": trained["batchnorm"],
        "train_s": train_s,
        "reused_trained_model": "train_s" in trained,
        "export_s": round(time.perf_counter() - t0, 1),
        "epochs_asked": args.epochs,
        "patience": args.patience,
        "int8": int8_entries(records),
    }
    fix = keep_float_fix(records, export_opts, args, say)
    if fix:
        row["keep_float_fix"] = fix
    return row


def trained_before(model: str, args: argparse.Namespace) -> dict[str, Any] | None:
    """What `edgekit train` returned for a model already trained in --work (from its manifest), or None. The
    training time comes from the earlier results row of the same model, if that row measured this model."""
    manifest_path = args.work / f"{model}-digits" / "keras" / "manifest.json"
    try:
        m = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return None
    t = m["training"]
    if m.get("architecture") != model or m["build"]["input_size"] != args.size:
        return None
    earlier = next((r for r in earlier_rows([]) if r["model"] == model), {})
    same = earlier.get("fp32_val_accuracy") == t["val_accuracy"] and earlier.get("epochs_run") == t["epochs_run"]
    return {
        "model_path": m["path"],
        "strategy": t["strategy"],
        "strategy_reason": t["strategy_reason"],
        "weights": m["weights"]["used"],
        "epochs_run": t["epochs_run"],
        "train_images": len(t["split"]["train"]),
        "val_images": len(t["split"]["val"]),
        "val_accuracy": t["val_accuracy"],
        "batchnorm": t["batchnorm"],
        "train_s": earlier.get("train_s") if same else None,
    }


def int8_entries(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        fid = rec.get("fidelity") or {}
        entry: dict[str, Any] = {"status": rec["status"], "error": rec.get("error")}
        if "accuracy" in fid:
            entry |= {
                "accuracy": fid["accuracy"],
                "reference_accuracy": fid["reference_accuracy"],
                "drop_pp": round(100 * (fid["reference_accuracy"] - fid["accuracy"]), 2),
                "cosine": fid["cosine"],
                "top1_agreement": fid["top1_agreement"],
                "n": fid["n"],
            }
        manifest = json.loads(Path(rec["manifest"]).read_text()) if rec.get("manifest") else {}
        if isinstance(manifest.get("layer_errors"), list):
            entry["worst_layers"] = [{k: w[k] for k in w if k != "names"} for w in manifest["layer_errors"][:5]]
        if rec.get("keep_float"):
            entry["keep_float"] = rec["keep_float"]
        out[rec["format"]] = entry
    return out


def keep_float_fix(records: list[dict[str, Any]], export_opts, args: argparse.Namespace, say) -> list[dict[str, Any]]:
    """Where INT8 lost more than the bar: export again keeping the suggested layers float, up to FIX_ROUNDS times."""
    from dataclasses import replace

    from edgekit.exporting.pipeline import export

    rounds: list[dict[str, Any]] = []
    for n in range(FIX_ROUNDS):
        offer = next((r["keep_float_suggestion"] for r in records if r.get("keep_float_suggestion")), None)
        if offer is None:
            break
        say(f"INT8 lost more than {DROP_BAR_PP} pp: keeping {', '.join(offer['keep_float'])} float")
        opts = replace(export_opts, keep_float=tuple(offer["keep_float"]), out=args.work / f"exports-keepfloat-{n + 1}")
        t0 = time.perf_counter()
        records = export(opts, on_step=say)
        rounds.append(
            {
                "suggested": offer["layers"],
                "keep_float": offer["keep_float"],
                "command": offer["command"],
                "export_s": round(time.perf_counter() - t0, 1),
                "int8": int8_entries(records),
            }
        )
    return rounds


def run_models(models: list[str], args: argparse.Namespace):
    """Yield one row per model as it finishes; --jobs N runs N models at once, each in a child process."""
    if args.jobs <= 1:
        for model in models:
            print(f"{model}: training on builtin:digits at {args.size} px, then INT8 export", flush=True)
            yield train_and_export(model, args)
        return
    pending, running = list(models), {}
    while pending or running:
        while pending and len(running) < args.jobs:
            model = pending.pop(0)
            row_out = args.work / f"row-{model}.json"
            if args.resume and row_out.exists():  # finished in an earlier (interrupted) run
                yield json.loads(row_out.read_text())
                continue
            cmd = [sys.executable, __file__, "--models", model, "--row-out", str(row_out)]
            cmd += ["--size", str(args.size), "--epochs", str(args.epochs), "--alpha", str(args.alpha)]
            cmd += ["--calib-size", str(args.calib_size), "--work", str(args.work), "--patience", str(args.patience)]
            cmd += ["--resume"] if args.resume else []
            cmd += ["--reuse-trained"] if args.reuse_trained else []
            print(f"{model}: training on builtin:digits at {args.size} px, then INT8 export", flush=True)
            running[model] = (subprocess.Popen(cmd), row_out)
        time.sleep(5)
        for model, (proc, row_out) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[model]
            if proc.returncode == 0 and row_out.exists():
                yield json.loads(row_out.read_text())
            else:
                print(f"{model}: failed (exit {proc.returncode})", flush=True)


def verdict(row: dict[str, Any]) -> str:
    drops = [e.get("drop_pp") for e in row["int8"].values()]
    if row["fp32_val_accuracy"] < FP32_BAR:
        return f"FP32 below {FP32_BAR:.0%}"
    if any(d is None for d in drops):
        return "an INT8 export failed"
    return "meets the bar" if max(drops) <= DROP_BAR_PP else f"INT8 loses more than {DROP_BAR_PP} pp"


def accuracy_cells(int8: dict[str, Any]) -> list[str]:
    cells = []
    for fmt in FORMATS:
        e = int8.get(fmt, {})
        change = -e["drop_pp"] + 0.0 if "accuracy" in e else 0.0  # + 0.0: no "-0.0"
        cells.append(f"{e['accuracy']:.1%} ({change:+.1f} pp)" if "accuracy" in e else "failed")
    return cells


def markdown_table(report: dict[str, Any]) -> str:
    """The README table, generated from the JSON (never typed by hand)."""
    lines = [
        "| model | input | epochs | FP32 val acc | INT8 TFLite | INT8 ONNX | INT8 OpenVINO | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for row in report["rows"]:
        name = row["model"] + (f" ({row['alpha']})" if row.get("alpha") else "")
        lines.append(
            f"| {name} | {row['input_size']} px | {row['epochs_run']} | {row['fp32_val_accuracy']:.1%} | "
            + " | ".join(accuracy_cells(row["int8"]))
            + f" | {verdict(row)} |"
        )
        for fix in row.get("keep_float_fix", []):
            drops = [e.get("drop_pp") for e in fix["int8"].values()]
            ok = all(d is not None for d in drops) and max(drops) <= DROP_BAR_PP
            lines.append(
                f"| {name}, `--keep-float` {len(fix['keep_float'])} layers | {row['input_size']} px | "
                f"{row['epochs_run']} | {row['fp32_val_accuracy']:.1%} | "
                + " | ".join(accuracy_cells(fix["int8"]))
                + f" | {'meets the bar' if ok else f'still loses more than {DROP_BAR_PP} pp'} |"
            )
        worst = next((e["worst_layers"] for e in row["int8"].values() if e.get("worst_layers")), None)
        if row.get("keep_float_fix") and worst:
            steps = ", ".join(f"`{'/'.join(w['tensor'].split('/')[-2:])}` {w['rmse_in_steps']:.2f}" for w in worst[:5])
            kept = row["keep_float_fix"][-1]["keep_float"]
            notes.append(
                f"{row['model']}: largest per-op INT8 error (TFLite quantization debugger, RMSE in quantization "
                f"steps): {steps}; Keras layers kept float: `{','.join(kept)}`."
            )
    lines.append("")
    lines += [n + "\n" for n in notes]
    for pub in report.get("published", []):
        lines.append(
            f"Published, ImageNet top-1: {pub['model']} {pub['fp32']:.1f} → {pub['int8']:.1f} with {pub['method']} "
            f"({pub['source']})."
        )
    if report.get("published"):
        lines.append("")
    runs = {}
    for row in report["rows"]:
        key = (str(row.get("git_commit") or report["git_commit"])[:12], str(row.get("date") or report["date"])[:10])
        runs.setdefault(key, []).append(row)
    meta = report["machine"]
    parts = [
        f"{', '.join(r['model'] for r in rows)} at commit {commit}, {date}, load {loads(rows, meta)}"
        for (commit, date), rows in runs.items()
    ]
    lines.append(
        f"builtin:digits, {report['rows'][0]['val_images'] if report['rows'] else 0} validation images; "
        f"`python benchmarks/accuracy.py` on {meta.get('machine', '?')} with {meta.get('cpus', '?')} CPUs: "
        + "; ".join(parts)
        + "."
    )
    return "\n".join(lines)


def loads(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    values = [r.get("loadavg_1min", meta.get("loadavg_1min")) for r in rows]
    values = [v for v in values if v is not None]
    return f"{max(values):.1f}" if values else "?"


def update_readme(report: dict[str, Any], readme: Path = ROOT / "docs" / "evidence.md") -> None:
    if not _results.replace_readme_block(readme, README_BEGIN, README_END, markdown_table(report)):
        print(f"{readme.name} has no {README_BEGIN} ... {README_END} markers: table not written", file=sys.stderr)


def earlier_rows(models: list[str]) -> list[dict[str, Any]]:
    """Rows of the models not run this time, from the results file (each keeps its own date and commit)."""
    try:
        earlier = json.loads(RESULTS.read_text())
        rows = earlier["rows"]
    except (OSError, ValueError, KeyError):
        return []
    for row in rows:  # rows written before each row carried its own date and commit: the file's
        row.setdefault("date", earlier.get("date"))
        row.setdefault("git_commit", earlier.get("git_commit"))
        row.setdefault("loadavg_1min", earlier.get("machine", {}).get("loadavg_1min"))
    return [r for r in rows if r["model"] not in models]


# The exporter's runtimes and converters: the versions an INT8 accuracy depends on.
TOOLS = ("tensorflow-cpu", "tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "openvino", "nncf",
         "ai-edge-litert", "numpy")  # fmt: skip


def git_commit() -> str | None:
    """This file's layout of the shared provenance: the commit, "+dirty" when edgekit's tree differs from it."""
    commit, dirty = _results.git_commit(ROOT)
    return commit + ("+dirty" if dirty else "") if commit else None


def machine() -> dict[str, Any]:
    """This file's layout of the shared machine facts (accuracy.json's "machine" keys)."""
    info: dict[str, Any] = {"machine": platform.machine(), "system": platform.system(), "cpus": _results.cores()}
    try:
        info["loadavg_1min"] = _results.load_now()[0]
    except OSError:
        pass
    return info


def print_rows(report: dict[str, Any]) -> None:
    print(markdown_table(report))
    for row in report["rows"]:
        for fmt, e in row["int8"].items():
            if e.get("error"):
                print(f"{row['model']} {fmt}: {e['error']}")
            if e.get("drop_pp", 0) > DROP_BAR_PP and e.get("worst_layers"):
                worst = ", ".join(f"{w['tensor']} ({w['rmse_in_steps']:.1f} steps)" for w in e["worst_layers"][:3])
                print(f"{row['model']} {fmt}: loses {e['drop_pp']:.1f} pp; worst INT8 layers (TFLite): {worst}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--alpha", type=float, default=0.35, help="MobileNet width (0.35: the smallest published).")
    ap.add_argument("--calib-size", type=int, default=200)
    ap.add_argument("--patience", type=int, default=6, help="Epochs without a better val accuracy before stopping.")
    ap.add_argument("--work", type=Path, default=Path("/tmp/edgekit-accuracy"))
    ap.add_argument("--update-readme", action="store_true", help="Only regenerate README's table from the JSON.")
    ap.add_argument("--jobs", type=int, default=1, help="Models trained at once, each in its own process.")
    ap.add_argument("--resume", action="store_true", help="Continue interrupted trainings from their checkpoints.")
    ap.add_argument("--reuse-trained", action="store_true", help="Export models already trained in --work again.")
    ap.add_argument("--row-out", type=Path, help=argparse.SUPPRESS)  # a child: write this model's row here
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.row_out:
        args.row_out.write_text(json.dumps(train_and_export(models[0], args), default=str))
        return 0
    if args.update_readme:
        report = json.loads(RESULTS.read_text())
        update_readme(report)
        print_rows(report)
        return 0
    report: dict[str, Any] = {
        "benchmark": "accuracy",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git_commit": git_commit(),
        "versions": _results.versions(TOOLS),
        "machine": machine(),
        "data": "builtin:digits",
        "bar": {"fp32_val_accuracy": FP32_BAR, "int8_drop_pp": DROP_BAR_PP},
        "published": PUBLISHED,
        "rows": earlier_rows(models),
    }
    for row in run_models(models, args):
        report["rows"] = [r for r in report["rows"] if r["model"] != row["model"]] + [row]
        report["rows"].sort(key=lambda r: MODELS.index(r["model"]) if r["model"] in MODELS else len(MODELS))
        _results.write_json(RESULTS, report, timed=False)  # each model kept as soon as it is done
    print_rows(report)
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
