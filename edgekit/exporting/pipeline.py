"""export(): spec -> build -> calibration set -> for each format: convert, verify, manifest, atomic rename."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import console
from edgekit.errors import EdgekitError, UsageError
from edgekit.exporting.manifest import build_manifest, cached_artifact, record_from_manifest
from edgekit.exporting.options import DEFAULT_OUT, ExportOptions, Source, artifact_dir
from edgekit.exporting.source import (
    calibration_and_holdout,
    check_writable,
    load_source,
    resolve_formats,
    validate_model,
)
from edgekit.exporting.stagelog import stage
from edgekit.ioutil import atomic_dir, write_json_atomic
from edgekit.models.layers import iter_layers, predict_in_chunks, reestimate_batchnorm
from edgekit.models.registry import Preprocess
from edgekit.quiet import quiet_env, quiet_tf
from edgekit.safety import check_folder

# Below this logit cosine an int8 TFLite export runs the quantization debugger on its own (~2x the conversion time):
# the EfficientNet-style collapse, not the few-percent noise of a healthy int8 model.
AUTO_LAYER_REPORT_COSINE = 0.95


def export(opts: ExportOptions, on_step=None) -> list[dict[str, Any]]:
    """Export one model to every requested format; returns one record per artifact (the --json output)."""
    from edgekit.exporting import offload as side_mod
    from edgekit.exporting.formats import formats as table

    console.err_stream()  # keep a handle on the real stderr before converters silence fd 2
    show = on_step or console.info

    def step(msg: str) -> None:
        stage(msg)
        show(msg)

    if opts.io not in ("int8", "float"):
        raise UsageError("--io must be int8 or float")
    if opts.holdout < 1:
        raise UsageError("--holdout must be at least 1")
    names = resolve_formats(opts)
    if opts.formats is None and opts.targets:  # --target without --format: the formats those targets run
        from edgekit.exporting.targeting import formats_for_targets

        names = list(formats_for_targets(tuple(opts.targets), opts.precision))
    model_name = validate_model(opts)
    root = Path(opts.out) if opts.out else DEFAULT_OUT
    same = [n for n in names if opts.dynamic_batch and not opts.any_batch(n)]
    if same:  # said, not silently dropped
        console.warn(f"--dynamic-batch changes no {', '.join(same)} artifact (a .tflite is resized at load; an Edge "
                     "TPU model is compiled for batch 1): made as without it")  # fmt: skip

    check_writable(check_folder(root, "output folder"))
    from edgekit.exporting.targeting import plan

    variants = {v.unit: v for v in plan(names, opts.precision, tuple(opts.targets))}  # one per distinct setting
    units = list(variants)
    if opts.reuse:
        dirs = {u: artifact_dir(root, model_name, u, opts.precision, opts.any_batch(u)) for u in units}
        hits = [cached_artifact(dirs[u], opts.key(v.fmt, v.key)) for u, v in variants.items()]
        if all(hits):
            return [record_from_manifest(dirs[u], m) for u, m in zip(units, hits, strict=True)]

    t0 = time.perf_counter()
    step(f"building {opts.model}")

    quiet_env()
    with quiet_tf():
        src = load_source(opts)
    step(f"loading calibration images ({opts.calib}, {opts.calib_size} + {opts.holdout} held out)")
    calib, holdout = calibration_and_holdout(opts, src.input_size, src.preprocess, src.training)
    if opts.calib == "synthetic":
        console.warn("calibrating on synthetic images (asked for): INT8 ranges will not reflect real photographs")
    if opts.max_accuracy_drop is not None and holdout.labels is None:  # never a silent pass
        from edgekit.exporting.fidelity import UNJUDGED

        console.warn(UNJUDGED)
    # Random weights (asked for, or --weights auto without ImageNet weights); a user's .keras file is taken as trained.
    untrained = src.build.get("weights_used", opts.weights) in ("none", "random") and "file" not in src.build
    recal = opts.recalibrate_bn if opts.recalibrate_bn is not None else untrained
    bn_layers = reestimate_batchnorm(src.model, calib.images) if recal else 0
    if bn_layers:
        step(
            f"untrained weights: re-estimated {bn_layers} BatchNorm layers on {min(len(calib), 64)} calibration "
            "images so int8 ranges and fidelity numbers mean something"
        )
    keep = None
    if opts.keep_float:
        from edgekit.exporting.keepfloat import plan

        keep = plan(src.model, opts.keep_float)  # unknown names fail here, before any conversion
        step(f"keeping {len(opts.keep_float)} layer(s) float: {', '.join(opts.keep_float)}")
    scopes = keep["all_scopes"] if keep else traced_scopes(src.model)  # per-layer views name ops by Keras layer
    stage("keras reference outputs on the held-out images")
    reference = predict_in_chunks(src.model, holdout.images)  # one eager call would hold every activation
    if not untrained:  # a random network scores chance by design; a trained one near chance is fed the wrong inputs
        from edgekit.data.labelled import one_line, warn_if_near_chance

        warn_if_near_chance(reference, holdout.labels, src.preprocess, lambda m: one_line(f"warning: {m}"))

    rows = table()
    records: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="edgekit-export-") as work:
        shared = SharedInputs(
            src.name,
            src.preprocess,
            src.input_size,
            src.build,
            opts,
            calib,
            holdout,
            reference,
            root,
            Path(work),
            bn_layers,
            keep,
            variants,
            scopes,
        )
        side = start_side_export(shared, src.model, units)
        try:
            if side is not None:
                side_now = f"{src.name} -> {', '.join(side.formats)} {opts.precision}"
                if side.mode == side_mod.FIRST:  # not enough memory for both at once: the side goes first
                    step(f"exporting {side_now} (one conversion at a time)")
                    records.update(finish_side_export(side, src, shared))
                elif side.mode == side_mod.UNTIL_QUANTIZE:  # TensorFlow's peak, in quantization, waits for the side
                    step(f"exporting {side_now} alongside, until TFLite quantizes (memory for both peaks is short)")
                    calib.on_end = partial(side_mod.wait_exit, side)
            for name in units:
                if side is not None and name in side.formats:
                    continue
                step(f"exporting {src.name} -> {name} {opts.precision}{served_by(variants[name])}")
                total = len(calib) if opts.precision == "int8" else None
                with console.progress(f"{name} {opts.precision}", total=total) as advance, quiet_tf():
                    calib.tick = advance  # converters print to fd 1 and 2 (silenced); the bar uses its own handle
                    records[name] = export_one(rows[variants[name].fmt], src, shared, name)
                    calib.tick = None
            if side is not None and side.mode != side_mod.FIRST:
                step(f"waiting for {', '.join(side.formats)} (exported alongside)")
                records.update(finish_side_export(side, src, shared))
        except BaseException:  # an error or ^C here: the side's work is lost with this export, never left running
            if side is not None and side.proc.returncode is None:
                side_mod.abandon(side, shared)
            raise
        finally:
            calib.on_end = calib.tick = None
    offer_keep_float(records, src, shared, step)
    step(f"done in {time.perf_counter() - t0:.1f} s")
    return [records[name] for name in units]


def served_by(variant) -> str:
    if variant.targets == ("host",):
        return ""
    return f" for {'+'.join(variant.targets)}" + (f" ({variant.key})" if variant.key else "")


@dataclass
class SharedInputs:
    """What every format's export needs besides the Keras model: picklable, so a side process can take it."""

    name: str
    preprocess: Preprocess
    input_size: int
    build: dict[str, Any]
    opts: ExportOptions
    calib: Any
    holdout: Any
    reference: np.ndarray
    root: Path
    work: Path
    bn_layers: int
    keep_float: dict[str, Any] | None = None  # edgekit.exporting.keepfloat.plan: the layers and their scopes
    variants: dict[str, Any] | None = None  # unit ("onnx@rpi5") -> edgekit.exporting.targeting.Variant
    layer_scopes: dict[str, list[str]] | None = None  # Keras layer -> the scope segments its ops carry


def traced_scopes(model) -> dict[str, list[str]] | None:
    """The keep-float trace of every layer, recorded in each manifest so that per-layer views (compare --layers,
    profile --profile-ops, the reports) name ops by Keras layer; an export never fails over it (None then)."""
    from edgekit.exporting.keepfloat import layer_scopes

    try:
        with quiet_tf():
            return layer_scopes(model)
    except Exception:  # a model the trace cannot call (exotic inputs): the views keep the runtime's names
        return None


def start_side_export(shared: SharedInputs, model, names: list[str]):
    """ONNX Runtime / NNCF work goes to a second process (edgekit.exporting.offload): beside TensorFlow's TFLite
    conversion when both fit in memory (TensorFlow holds the GIL, so only a process gains), else before it."""
    from edgekit.exporting import offload as side
    from edgekit.exporting.formats import formats as table
    from edgekit.exporting.targeting import unit_format

    rows = table()
    calibrates = shared.opts.precision == "int8" and "tflite" in names
    names_side, mode = side.plan_side(
        [n for n in names if rows[unit_format(n)].side],
        len(names),
        model.count_params() * 4,
        shared.opts.parallel,
        calibrates,
    )
    if not names_side:
        return None
    from edgekit.exporting.formats.onnx import keras2onnx

    stage("onnx fp32: keras2onnx (TensorFlow graph, before the side process starts)")
    batch = None if shared.opts.dynamic_batch else 1  # only ONNX and OpenVINO read this file
    keras2onnx(model, shared.work / "model-fp32.onnx", batch=batch)  # TensorFlow work: done here, before the split
    side.release_memory()  # tf2onnx's garbage, before a second process needs the room
    return side.start(shared, names_side, mode)


def finish_side_export(side_export, src: Source, shared: SharedInputs) -> dict[str, dict[str, Any]]:
    """Collect the side process's records; out of memory there is a clean failure of that format, any other death
    exports the missing formats here instead (never lose them)."""
    from edgekit.exporting import offload as side
    from edgekit.exporting.formats import formats as table
    from edgekit.exporting.targeting import unit_format

    records, missing = side.finish(side_export, shared)
    rows = table()
    with quiet_tf():
        records.update({name: export_one(rows[unit_format(name)], src, shared, name) for name in missing})
    return records


def export_one(fmt, src: Source | None, shared: SharedInputs, unit: str | None = None) -> dict[str, Any]:
    """Convert, verify and write one artifact atomically; src.model is only needed by TensorFlow formats.
    unit: which of the format's artifacts ("onnx@rpi5": made with that target's settings; default: the host's)."""
    from edgekit.exporting.base import ExportJob
    from edgekit.exporting.fidelity import fidelity_metrics, gate
    from edgekit.exporting.targeting import Variant

    opts, calib, holdout, work = shared.opts, shared.calib, shared.holdout, shared.work
    unit = unit or fmt.name
    variant = (shared.variants or {}).get(unit) or Variant(fmt.name, "")
    final = artifact_dir(shared.root, shared.name, unit, opts.precision, opts.any_batch(unit))
    model = src.model if src is not None else None
    t0 = time.perf_counter()
    manifest: dict[str, Any] = {}
    from edgekit.exporting.stagelog import stage

    try:
        with atomic_dir(final) as tmp:
            job = ExportJob(model, shared.name, opts.precision, opts.io, calib, tmp, work, input_size=shared.input_size)
            job.dynamic_batch = opts.any_batch(fmt.name)
            job.layer_scopes = shared.layer_scopes
            job.keep_float = shared.keep_float
            job.settings = variant.settings
            stage(f"{fmt.name} {opts.precision}: conversion")
            files = fmt.convert(job)
            convert_s = time.perf_counter() - t0
            stage(f"{fmt.name} {opts.precision}: fidelity check")
            loaded = fmt.load(files[0], {"precision": job.precision}, opts.threads)
            fidelity = fidelity_metrics(shared.reference, loaded.run(holdout.images), holdout.labels)
            reason = gate(fidelity, opts.min_cosine, opts.max_accuracy_drop)
            manifest = build_manifest(fmt, job, shared, files, fidelity)
            manifest["options_key"] = opts.key(fmt.name, variant.key)
            manifest["targets"] = served_targets(final, manifest["options_key"], variant.targets)
            manifest["target_settings"] = {fmt.name: variant.settings} if variant.settings else {}
            if variant.targets != ("host",):
                from edgekit.emulate.board import fidelity_on_targets

                stage(f"{fmt.name} {opts.precision}: fidelity on the emulated boards")
                on_board, cause = fidelity_on_targets(files[0], fmt.name, variant.targets, shared)
                if on_board:
                    manifest["fidelity_on_target"] = on_board
                reason = reason or cause
            manifest["timings_s"] = {"convert": round(convert_s, 2), "total": round(time.perf_counter() - t0, 2)}
            manifest["gate"] = {"passed": reason is None, "reason": reason}
            if wants_layer_report(opts, job, fidelity):
                stage(f"{fmt.name} {opts.precision}: layer report (converts and calibrates again)")
                t_report = time.perf_counter()
                manifest["layer_errors"] = layer_report_safe(model, calib, holdout, job.io, job.layer_scopes)
                manifest["timings_s"]["layer_report"] = round(time.perf_counter() - t_report, 2)
            write_json_atomic(tmp / "manifest.json", manifest)
    except EdgekitError:
        raise
    except Exception as exc:  # a converter failure: report it for this format, keep going with the others
        if os.environ.get("EDGEKIT_DEBUG"):
            raise
        msg = f"{type(exc).__name__}: " + (str(exc).strip().splitlines() or [""])[-1][:300]
        if isinstance(exc, MemoryError):  # name the stage, the peak and the knob (edgekit.exporting.offload)
            from edgekit.exporting.offload import memory_error

            msg = memory_error(fmt.name, opts.precision, "MemoryError")
        return {
            "model": shared.name,
            "format": fmt.name,
            "precision": opts.precision,
            "targets": list(variant.targets),
            "path": str(final),
            "size_bytes": None,
            "sha256": None,
            "status": "failed",
            "error": msg,
            "fidelity": None,
        }
    return record_from_manifest(final, manifest)


def served_targets(final: Path, key: str, targets: tuple[str, ...]) -> list[str]:
    """The targets an artifact serves: these, and those of the same artifact already there (same options key)."""
    try:
        earlier = json.loads((final / "manifest.json").read_text())
    except (OSError, ValueError):
        earlier = {}
    before = earlier.get("targets") if isinstance(earlier, dict) and earlier.get("options_key") == key else None
    return list(dict.fromkeys([*(before if isinstance(before, list) else []), *targets]))


NNCF_ALTERNATIVE = (
    "NNCF's accuracy-aware quantization (nncf.quantize_with_accuracy_control: reverts the most harmful "
    "quantizers to float until the drop is within a bound)"
)


def offer_keep_float(records: dict[str, dict[str, Any]], src: Source, shared: SharedInputs, step) -> None:
    """INT8 lost more labelled accuracy than --max-accuracy-drop: name the layers to keep float (largest error in
    the per-layer report) and the command that does it, in each failing artifact's record and manifest."""
    opts = shared.opts
    failing = [
        r
        for r in records.values()
        if r["status"] == "below-threshold" and "--max-accuracy-drop" in r.get("reason", "") and r.get("manifest")
    ]
    if opts.precision != "int8" or not failing:
        return
    from edgekit.exporting.keepfloat import output_layer_name, rerun_command, suggest_layers

    errors = None
    for r in records.values():  # a TFLite artifact may have run the debugger already
        found = json.loads(Path(r["manifest"]).read_text()).get("layer_errors") if r.get("manifest") else None
        errors = found if isinstance(found, list) else errors
    scopes = shared.layer_scopes or {}  # the keep-float trace the export recorded (all_scopes under --keep-float)
    if errors is None:
        step("INT8 lost more accuracy than --max-accuracy-drop: per-layer INT8 report, to name layers to keep float")
        with quiet_tf():
            errors = layer_report_safe(src.model, shared.calib, shared.holdout, opts.io, scopes)
    if not isinstance(errors, list):
        return  # the debugger failed: the gate's reason stands alone
    import keras

    folded = [x.name for x in iter_layers(src.model) if isinstance(x, keras.layers.BatchNormalization)]
    layers = suggest_layers(errors, scopes, [*opts.keep_float, *folded], output_layer_name(src.model))
    if not layers:
        return
    keep = [*opts.keep_float, *layers]
    for r in failing:
        suggestion = {
            "layers": layers,
            "keep_float": keep,
            "command": rerun_command(opts, keep),
            "from": "TFLite quantization debugger: largest per-layer INT8 error (RMSE in quantization steps)",
        }
        if r["format"] == "openvino":
            suggestion["alternative"] = NNCF_ALTERNATIVE
        r["keep_float_suggestion"] = suggestion
        manifest = json.loads(Path(r["manifest"]).read_text())
        manifest["keep_float_suggestion"] = suggestion
        manifest.setdefault("layer_errors", errors)
        write_json_atomic(Path(r["manifest"]), manifest)


def wants_layer_report(opts: ExportOptions, job, fidelity: dict[str, Any]) -> bool:
    if job.precision != "int8" or job.model_name is None or not str(job.extra.get("converter", "")).startswith("tf"):
        return False
    if opts.layer_report is not None:
        return opts.layer_report
    return fidelity["cosine"] < AUTO_LAYER_REPORT_COSINE  # damaged enough that users will ask which layer did it


def layer_report_safe(model, calib, holdout, io: str, scopes) -> list[dict[str, Any]] | dict[str, str]:
    """The debugger's worst layers, each with the Keras layers fused into its op ("keras_layers"; the TFLite tensor
    name stays in "tensor"). scopes: the export's trace (SharedInputs.layer_scopes; None where it failed)."""
    from edgekit.exporting.formats.tflite import layer_error_report
    from edgekit.exporting.keepfloat import layers_for_row, output_layer_name

    try:
        rows = layer_error_report(model, calib, holdout.images[:16], io)
    except Exception as exc:  # the debugger is a diagnostic: never fail an export because of it
        return {"error": f"quantization debugger failed: {type(exc).__name__}: {str(exc)[:200]}"}
    output = output_layer_name(model)
    return [{**row, "keras_layers": layers_for_row(row, scopes or {}, output)} for row in rows]
