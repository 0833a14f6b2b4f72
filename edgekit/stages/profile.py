"""`edgekit profile`: target -> artifacts -> measured (here), emulated (QEMU) or predicted (cost model) -> results."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgekit import console
from edgekit.errors import EdgekitError, UsageError
from edgekit.exporting.artifacts import (
    Artifact,
    artifact_at,
    prefer_for_batch,
    prefer_for_target,
    scan_exports,
    unique_models,
)
from edgekit.measure.options import TimingOptions
from edgekit.safety import check_folder
from edgekit.stages.profile_keras import is_keras_file, keras_precision, predict_keras_file


@dataclass
class ProfileRequest:
    items: list[str] = field(default_factory=list)
    target: str = "host"
    threads: int | None = None
    runs: int = 50
    min_seconds: float = 1.0
    warmup: int = 5
    precision: str | None = None
    formats: tuple[str, ...] | None = None
    input_size: int | None = None
    build: dict[str, Any] = field(default_factory=dict)  # the export options a model name is built with (--alpha ...)
    predict: bool = False
    emulate: bool = False
    guest_runtime: str = "litert"  # --emulate only: the runtime inside the emulated guest (litert | tflite-runtime)
    timeout: float = 600
    save: bool = True
    profiles_dir: Path = Path("profiles")  # ./profiles of the current folder, beside ./edgekit-out (--profiles DIR)
    export_root: Path | None = None
    link: str | None = None  # Edge TPU targets: usb2 | usb3 | pcie instead of the target's own link
    timing: TimingOptions = field(default_factory=TimingOptions)  # --device, --mode, --batch, ... (measure/options)


def target_formats(target) -> tuple[str, ...]:
    """Formats a target runs, per its toml (host: all of them)."""
    fmts = getattr(target, "formats", None)
    if fmts:
        return tuple(fmts)
    from edgekit.exporting.formats import format_names

    return format_names()


def default_precision(target) -> str:
    return getattr(target, "default_precision", None) or "fp32"


def export_root(req: ProfileRequest) -> Path:
    from edgekit.exporting.pipeline import DEFAULT_OUT

    return req.export_root or DEFAULT_OUT


def folder_artifacts(path: Path, req: ProfileRequest, target) -> list[Artifact] | None:
    """A model's export folder (<out>/<model>/) or a whole export root: the artifacts the target runs (None when
    path is not such a folder)."""
    if not path.is_dir() or (path / "manifest.json").is_file():
        return None
    found = scan_exports(path, "*/manifest.json") or scan_exports(path)
    if not found:
        return None
    runnable = [a for a in found if a.format in target_formats(target)]
    return [a for a in runnable if req.precision in (None, a.precision)]


def export_for(name: str, req: ProfileRequest, target) -> list[Artifact]:
    """A model name: export it (cached, keyed by its options) in the formats the target runs."""
    from edgekit.exporting.formats import formats as table
    from edgekit.exporting.options import ExportOptions
    from edgekit.exporting.pipeline import export

    precision = req.precision or default_precision(target)
    wanted = [f for f in target_formats(target) if (req.formats is None or f in req.formats)]
    if "edgetpu" in wanted and "tflite" in wanted:
        wanted.remove("tflite")  # the edgetpu artifact is the int8 TFLite the TPU runs
    wanted = [f for f in wanted if precision in table()[f].precisions]
    if not wanted:
        supported = "/".join(target.runtime.precisions)
        raise UsageError(
            f"target {target.id} runs none of the requested formats at {precision}: it runs "
            f"{'/'.join(target.runtime.formats)} at {supported}; use --{target.runtime.precisions[0]}"
        )
    opts = ExportOptions(
        model=name,
        precision=precision,
        formats=tuple(wanted),
        input_size=req.input_size,
        out=req.export_root,
        reuse=True,
        targets=() if target.id == "host" else (target.id,),  # quantized the way this target's CPU wants
        dynamic_batch=req.timing.batch > 1,  # --batch N: an ONNX made at batch 1 could not take it
        **req.build,
    )
    records = export(opts)
    failed = [r for r in records if r["status"] == "failed"]
    if failed:
        raise EdgekitError(f"export of {name} to {failed[0]['format']} failed: {failed[0].get('error')}")
    return [artifact_at(Path(r["path"])) for r in records]


def to_export(item: str) -> bool:
    """A .keras file, or a name that is no path (a zoo model): exported on the fly before it is measured."""
    from edgekit.exporting.formats import format_of_suffix

    path = Path(item)
    return (is_keras_file(item) and path.is_file()) or not (path.exists() or format_of_suffix(path) or "/" in item)


def gather(req: ProfileRequest, target) -> list[Artifact]:
    arts: list[Artifact] = []
    named: list[Artifact] = []  # files the user named: kept whatever their twins
    if not req.items:
        root = export_root(req)
        arts = scan_exports(root)
        if not arts:
            raise UsageError(f"no artifacts under {root}/: run `edgekit export MODEL` first, or name a model or file")
        arts = [a for a in arts if a.format in target_formats(target)]
    for item in req.items:
        path = Path(item)
        in_folder = folder_artifacts(path, req, target)
        if in_folder is not None:
            arts.extend(in_folder)
        elif to_export(item) and is_keras_file(item):  # measured or emulated: exported on the fly, INT8 by default
            arts.extend(export_for(item, replace(req, precision=keras_precision(req.precision, target)), target))
        elif to_export(item):
            arts.extend(export_for(item, req, target))
        else:
            named.append(artifact_at(path))
            arts.append(named[-1])
    if req.formats:
        arts = [a for a in arts if a.format in req.formats]
    arts = prefer_for_batch(arts, req.timing.batch, named)  # onnx-int8-anybatch over onnx-int8 for --batch 4
    arts = prefer_for_target(arts, target, named)  # onnx-int8@rpi5 over onnx-int8 (made for this host) on --target rpi5
    arts = unique_models(arts, prefer="edgetpu" if "edgetpu" in target_formats(target) else "tflite")
    if req.precision and req.items == []:
        arts = [a for a in arts if a.precision in (None, req.precision)]
    if not arts:
        raise UsageError(f"no artifact matches target {target.id} (it runs {', '.join(target_formats(target))})")
    return arts


def profile_one(art: Artifact, req: ProfileRequest, target) -> dict[str, Any]:
    if req.emulate:
        return emulate_one(art, req, target)
    if target.is_this_machine() and not req.predict:
        from edgekit.costmodel.kinds import hook  # a kind measured otherwise than by the host runners says how

        measure = hook(target, "measure_here")
        if measure is not None:
            return measure(art.path, req, target)
        from edgekit.measure.host import measure_artifact

        throughput_default = req.timing.mode == "throughput" and req.threads is None  # the runtime's own choice
        return measure_artifact(
            art.path,
            threads=None if throughput_default else (req.threads or 1),
            runs=req.runs,
            min_seconds=req.min_seconds,
            warmup=req.warmup,
            timeout=req.timeout,
            timing=req.timing,
        )
    from edgekit.costmodel.predict import predict_artifact

    return predict_artifact(art.path, target, threads=req.threads, link=req.link)


def emulate_one(art: Artifact, req: ProfileRequest, target) -> dict[str, Any]:
    from edgekit.emulate import cpu_for_target, profile_emulated
    from edgekit.exporting.formats import get_format

    cpu = cpu_for_target(target.id)  # from the target's file ([emulate] qemu_cpu)
    if get_format(art.format).timing not in ("litert", "onnxruntime"):  # the guest runs LiteRT and ONNX Runtime
        raise UsageError(f"--emulate runs TFLite and ONNX artifacts; {art.path.name} is {art.format}")

    result = profile_emulated(art.path, target.id, cpu, runtime=req.guest_runtime, timeout=req.timeout)
    if result.get("match") is False:
        result["mismatch"] = mismatch_line(art, result, target)
    if result.get("guest_instructions"):
        from edgekit.costmodel.instructions import predict_from_instructions

        result["predicted_from_instructions"] = predict_from_instructions(
            result["guest_instructions"], result.get("precision") or "fp32", target, req.threads,
            runtime=result["runtime"]["name"], runtime_version=result["runtime"]["version"],
        )  # fmt: skip
    return result


def mismatch_line(art: Artifact, result: dict[str, Any], target) -> str:
    """One line on why the board's outputs differ from this host's: the largest difference and where it is, then
    what edgekit knows of the cause: the artifact was quantized for another CPU (its manifest says so; a re-export
    for the board makes the right setting), and the runtime's kernels rounding differently across CPUs."""
    from edgekit.device.runtimes import isa_note
    from edgekit.exporting.formats import get_format
    from edgekit.exporting.targeting import made_for_other_cpu, other_cpu_line

    worst = result.get("worst") or {}
    steps = result.get("max_quant_steps")
    size = f"{result.get('max_abs_diff'):.4g}" + (f" ({steps} quantization steps)" if steps is not None else "")
    where = f" at output {worst.get('output', 0)}, index {worst.get('index')}" if worst else ""
    line = f"{art.path}: outputs on the emulated {target.id} differ from this host's by {size}{where}"
    other = made_for_other_cpu(art.manifest, target)
    if other:
        result["quantized_for"] = other
        line += f"; {other_cpu_line(other, target.id)}"
    note = isa_note(str((result.get("runtime") or {}).get("name") or get_format(art.format).timing))
    if note:
        result["differs_because"] = note
        line += f"; {note} (the board's own fidelity: `edgekit export MODEL --int8 --target {target.id}`)"
    return line


def fill_identity(result: dict[str, Any], art: Artifact, target) -> dict[str, Any]:
    """Name the result after the artifact's manifest (model, format, precision) and the target asked for."""
    meta = art.manifest or {}
    result["target"] = target.id
    for key in ("model", "format", "precision"):  # the manifest names the artifact; runners only guess
        if meta.get(key):
            result[key] = meta[key]
    result.setdefault("model", art.path.stem)
    result.setdefault("format", art.format)
    if meta.get("fidelity"):
        result.setdefault("fidelity", meta["fidelity"])
    if result.get("layers") and result.get("source") == "measured":  # --profile-ops: Keras layers beside op names
        from edgekit.analyze.layernames import name_artifact_layers

        result["layers"] = name_artifact_layers(result["layers"], art.path)
    build = meta.get("build") if isinstance(meta.get("build"), dict) else {}
    for key in ("input_size", "alpha"):  # part of the result's configuration (results.CONFIG_KEYS)
        if build.get(key) is not None:
            result.setdefault(key, build[key])
    if build.get("weights_used"):  # which weights the artifact holds: a published top-1 belongs to 'imagenet' only
        result.setdefault("weights", build["weights_used"])
    return result


def failed_result(art: Artifact, target, source: str, error: str) -> dict[str, Any]:
    """A complete failed result (every contract key), so saving it can never hide the error it records."""
    from edgekit.results.record import base_result

    model = str((art.manifest or {}).get("model") or art.path.stem)
    result = base_result(target.id, model, art.format, art.precision or "unknown", source)
    result.update(status="failed", error=error, artifact={"path": str(art.path)})
    return result


def _check_link(link: str, target) -> None:
    from edgekit.costmodel.kinds import hook
    from edgekit.hardware.targets import load_targets

    links = hook(target, "LINK_MBS")  # the host links a kind's prediction may assume (None: no such link)
    if links is None:
        linked = [t for t in load_targets().values() if hook(t, "LINK_MBS") is not None]
        labels = "/".join(dict.fromkeys(hook(t, "LABEL") or t.kind for t in linked))
        raise UsageError(f"--link is for {labels} targets ({', '.join(t.id for t in linked)}), not {target.id}")
    if link not in links:
        raise UsageError(f"unknown link {link!r}; choose one of {', '.join(links)}")


def check_timing(req: ProfileRequest, target: Any = None, remote: bool = False) -> None:
    """The timing options measure: refused (exit 2) where profile predicts or emulates; they narrow the formats a
    model name is exported to; --delegate edgetpu needs its library here (exit 1 before anything runs)."""
    given = req.timing.given()
    if not given:
        return
    if not remote and (req.predict or req.emulate or not target.is_this_machine()):
        how = "emulates" if req.emulate else "predicts"
        batch = "--batch" in given and not req.emulate
        why = "; predictions are for batch 1, as every published row they are fitted on" if batch else ""
        raise UsageError(f"{', '.join(given)} {'sets' if len(given) == 1 else 'set'} how a measurement runs; this "
                         f"profile {how} ({target.id}){why}: measure here, or on a board with --host")  # fmt: skip
    allowed = req.timing.formats()
    if allowed is not None:
        wrong = [f for f in (req.formats or ()) if f not in allowed]
        if wrong:
            raise UsageError(f"--format {wrong[0]}: {req.timing.why_formats()}")
        req.formats = req.formats or allowed
        for item in req.items:
            path = Path(item)
            if path.is_file() and not is_keras_file(item) and (artifact_at(path).format not in allowed):
                raise UsageError(f"{path}: {req.timing.why_formats()}")
    if not remote:
        check_local_hardware(req.timing)


def check_local_hardware(timing: TimingOptions) -> None:
    """--delegate edgetpu and --device GPU/NPU on this machine: one line (exit 1) before anything is measured or
    saved, when the library or the device is not here."""
    from edgekit import device

    if timing.delegate == "edgetpu":
        missing = device.edgetpu_missing()
        if missing:
            raise EdgekitError(missing)
    if timing.device in ("GPU", "NPU"):
        try:
            listed = device.openvino_devices()
        except device.RunnerError as exc:
            raise EdgekitError(str(exc)) from None
        if not any(d == timing.device or d.startswith(timing.device + ".") for d in listed):
            hint = "; install the Intel NPU driver" if timing.device == "NPU" else ""
            raise EdgekitError(f"--device {timing.device}: OpenVINO lists no {timing.device} here "
                               f"(available: {', '.join(listed) or 'none'}){hint}")  # fmt: skip


def predicts(req: ProfileRequest, target) -> bool:
    """Whether this run predicts (the cost model) rather than measures here or emulates."""
    return not req.emulate and (req.predict or not target.is_this_machine())


def profile_all(req: ProfileRequest) -> tuple[list[dict[str, Any]], list[str]]:
    from edgekit.hardware.targets import get_target

    target = get_target(req.target)

    check_folder(req.profiles_dir, "profiles folder")
    if req.emulate and req.predict:
        raise UsageError("choose --emulate or --predict, not both")
    if req.link is not None:
        _check_link(req.link, target)
    check_timing(req, target)
    results, errors = [], []
    keras_files = [i for i in req.items if is_keras_file(i)] if predicts(req, target) else []
    rest = replace(req, items=[i for i in req.items if i not in keras_files])
    for item in keras_files:  # predicted from the model's graph: nothing exported
        result = predict_keras_file(Path(item), req, target)
        if result["status"] == "failed":
            errors.append(f"{item}: {result['error']}")
        saved = save_keeping_cause(result, req.profiles_dir, errors) if req.save else None
        if saved is not None:
            result["saved_to"] = str(saved)
        results.append(result)
    for art in gather(rest, target) if rest.items or not keras_files else []:
        source = "emulated" if req.emulate else ("predicted" if predicts(req, target) else "measured")
        try:
            result = fill_identity(profile_one(art, req, target), art, target)
        except UsageError:
            raise
        except EdgekitError as exc:
            message = f"{exc.message}; {exc.hint}" if exc.hint else exc.message
            result = fill_identity(
                getattr(exc, "result", None) or failed_result(art, target, source, message), art, target
            )
            errors.append(message)
        else:
            if result.get("status") == "failed":  # a runner that reported its failure instead of raising it
                errors.append(f"{art.path}: {result.get('error')}")
        if req.save:
            saved = save_keeping_cause(result, req.profiles_dir, errors)
            if saved is not None:
                result["saved_to"] = str(saved)
        results.append(result)
    return results, errors


def save_keeping_cause(result: dict[str, Any], root: Path, errors: list[str]) -> Path | None:
    """Save a result; when it cannot be saved, say why without hiding the run's own error (the cause comes first)."""
    from edgekit.results.store import save_result

    try:
        return save_result(result, root)
    except EdgekitError as exc:
        if not errors:
            raise
        errors.append(f"the failed result was not saved: {exc.message}")
        return None


def _fmt_ms(lat: dict[str, Any] | None) -> str:
    if not lat or lat.get("median") is None:
        return ""
    text = f"{lat['median']:.2f}"
    if lat.get("low") is not None and lat.get("high") is not None:
        text += f" ({lat['low']:.2f}-{lat['high']:.2f})"
    return text


def _cells(r: dict[str, Any]) -> dict[str, str]:
    rt = r.get("runtime") or {}
    latency = _fmt_ms(r.get("latency_ms")) if r.get("status") == "ok" else f"{r.get('status')}"
    return {
        "artifact": f"{r.get('model')} {r.get('format')}-{r.get('precision')}",
        "source": str(r.get("source")),
        "latency ms": latency,
        # throughput mode's measured frames/s (async requests / parallel interpreters), and a batch other than 1
        "fps": f"{r['throughput_fps']:.1f}" if r.get("mode") == "throughput" and r.get("throughput_fps") else "",
        "batch": str(r["batch"]) if (r.get("batch") or 1) != 1 else "",
        "size MB": f"{r['size_bytes'] / 1e6:.2f}" if r.get("size_bytes") else "",
        "peak MB": f"{r['peak_memory_bytes'] / 1e6:.0f}" if r.get("peak_memory_bytes") else "",
        "energy mJ": f"{r['energy_mj']:.2f}" if r.get("energy_mj") is not None else "",
        "runtime": f"{rt.get('name', '')} x{rt.get('threads', '')}".strip(),
        "match": "" if r.get("match") is None else ("yes" if r["match"] else "NO"),
        # Measured over SSH: which board, measured / predicted, and whether the board throttled during the run.
        "board": str((r.get("host") or {}).get("ssh") or "") if isinstance(r.get("host"), dict) else "",
        "vs predicted": f"{r['measured_over_predicted']:.2f}x" if r.get("measured_over_predicted") else "",
        "throttled": {True: "THROTTLED", False: "no"}.get(r.get("throttled"), ""),
    }


def render_results(results: list[dict[str, Any]]) -> None:
    """A compact table per target; columns nobody filled (energy on the host, match outside --emulate) are dropped."""

    for target in dict.fromkeys(r.get("target") for r in results):
        cells = [_cells(r) for r in results if r.get("target") == target]
        columns = [c for c in cells[0] if c in ("artifact", "source", "latency ms") or any(row[c] for row in cells)]
        devices = {str((r.get("runtime") or {}).get("device")) for r in results if r.get("target") == target}
        devices = {"CPU" if d.lower() == "cpu" else d for d in devices}
        console.print_table(
            columns, [[row[c] for c in columns] for row in cells], title=f"{target} ({', '.join(sorted(devices))})"
        )
    for r in results:
        for op in r.get("fallback_ops") or []:
            console.info(
                f"{r.get('model')}: op {op.get('index')} {op.get('op')} falls back to the CPU: {op.get('reason')}"
            )
        for line in (_streaming_line(r), _instructions_line(r), *_slowest_layer_lines(r)):
            if line:
                console.info(line)
        for warning in r.get("warnings") or []:  # e.g. a prediction for an artifact quantized for another CPU
            console.warn(f"{r.get('model')} {r.get('format')}-{r.get('precision')}: {warning}")


SLOWEST_LAYERS = 5  # the console shows these; the result (--json, the saved file) keeps the ten slowest


def _slowest_layer_lines(r: dict[str, Any]) -> list[str]:
    """A measurement's slowest layers, by Keras layer name where the export traced them, else the runtime's names
    (said so)."""
    from edgekit.analyze.layernames import layer_label, names_note

    layers = r.get("layers") or []
    if r.get("source") != "measured" or not layers:
        return []
    slowest = sorted(layers, key=lambda row: -float(row.get("time_ms") or 0))[:SLOWEST_LAYERS]
    note = names_note(layers)
    head = f"{r.get('model')} {r.get('format')}-{r.get('precision')}: slowest layers"
    lines = [head + (f" ({note})" if note else "")]
    for row in slowest:
        pct = f"{row['percent']:5.1f} %" if row.get("percent") is not None else "       "
        lines.append(f"  {float(row.get('time_ms') or 0):9.3f} ms {pct}  {layer_label(row)}")
    return lines


def _instructions_line(r: dict[str, Any]) -> str | None:
    guess = r.get("predicted_from_instructions")
    if not guess or not guess.get("latency_ms"):
        return None
    return (
        f"{r.get('model')}: predicted from its emulated instructions: {_fmt_ms(guess['latency_ms'])} ms on "
        f"{r.get('target')} with {guess['threads']} thread(s) ({guess['instructions'] / 1e6:.1f} M instructions)"
    )


def _streaming_line(r: dict[str, Any]) -> str | None:
    """Edge TPU models over the parameter cache: what streams per inference, and how to get under the cache."""
    split = r.get("split") or {}
    fewest, most = split.get("streamed_param_bytes_range") or (0, 0)
    if not most:
        return None
    link = split.get("link")
    if fewest == most and "overflow" in split.get("streaming_basis", ""):  # the streaming rule, no compiler log
        line = (
            f"{r.get('model')}: parameters overflow the Edge TPU cache: all {most / 1e6:.2f} MB stream over {link} "
            "every inference (as the published rows over the cache behave; export with --format edgetpu where "
            "edgetpu_compiler is installed for its own split)"
        )
    elif fewest == most:
        line = f"{r.get('model')}: {most / 1e6:.2f} MB of parameters stream over {link} every inference"
    else:
        line = (
            f"{r.get('model')}: parameters overflow the Edge TPU cache: {fewest / 1e6:.2f}-{most / 1e6:.2f} MB stream "
            f"over {link} every inference (depends on the compiler; export with --format edgetpu where "
            "edgetpu_compiler is installed for the exact split)"
        )
    cache, params = split.get("param_cache_bytes"), split.get("tpu_param_bytes")
    if cache and params and params > cache:
        segments = -(-params // cache)
        line += (
            f"; to stop streaming, shrink the parameters by {(params - cache) / 1e6:.2f} MB (e.g. a smaller --alpha) "
            f"or pipeline over {segments} Edge TPUs (edgetpu_compiler --num_segments {segments})"
        )
    return line
