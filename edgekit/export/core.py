"""export(): spec -> build -> calibration set -> for each format: convert, verify, manifest, atomic rename."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import __version__
from edgekit.errors import EdgekitError, UsageError
from edgekit.export import default_formats, format_names
from edgekit.ioutil import atomic_dir, sha256_file, write_json_atomic
from edgekit.models.registry import Preprocess

DEFAULT_OUT = Path("edgekit-out")
# Below this logit cosine an int8 TFLite export runs the quantization debugger on its own (~2x the conversion time):
# the EfficientNet-style collapse, not the few-percent noise of a healthy int8 model.
AUTO_LAYER_REPORT_COSINE = 0.95


@dataclass
class ExportOptions:
    model: str  # a registered name or a path to a .keras file
    precision: str = "fp32"
    formats: tuple[str, ...] | None = None  # None: the default set
    calib: str = "builtin"
    calib_size: int = 200
    holdout: int = 32
    io: str = "int8"
    input_size: int | None = None
    alpha: float | None = None
    num_classes: int = 1000
    weights: str = "none"
    out: Path | None = None
    seed: int = 0
    min_cosine: float | None = None
    max_accuracy_drop: float | None = None
    layer_report: bool | None = None  # None: only when an int8 TFLite looks damaged
    recalibrate_bn: bool | None = None  # None: when the model is untrained (weights none)
    reuse: bool = False  # keep an earlier artifact built with the same options (profile uses this)
    # ONNX/OpenVINO in a side process while TensorFlow converts TFLite; EDGEKIT_EXPORT_SEQUENTIAL=1 turns it off
    # (benchmarks/export_speed.py --sequential measures what the side process gains).
    parallel: bool = field(default_factory=lambda: os.environ.get("EDGEKIT_EXPORT_SEQUENTIAL", "") in ("", "0"))
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    preprocess: str | None = None  # raw|tf|torch|caffe|mean=R,G,B:std=R,G,B; None: the model's own (or detected)
    keep_float: tuple[str, ...] = ()  # Keras layers left float in an INT8 export (mixed precision)

    def key(self, fmt: str) -> str:
        """What makes two exports the same artifact (the cache key)."""
        d = asdict(self)
        for k in ("formats", "out", "min_cosine", "max_accuracy_drop", "layer_report", "reuse", "threads", "parallel"):
            d.pop(k)
        d["format"], d["edgekit"] = fmt, __version__
        if not self.keep_float:
            d.pop("keep_float")  # keys of exports made before --keep-float existed stay valid
        if Path(self.model).suffix == ".keras" and Path(self.model).is_file():
            d["model_sha256"] = sha256_file(Path(self.model))  # same path, new weights: not the same artifact
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Source:
    """The float model every artifact is made from, and what the manifest says about it."""

    model: Any
    name: str
    preprocess: Preprocess
    input_size: int
    build: dict[str, Any]
    training: dict[str, Any] | None = None  # a model edgekit trained: its data split (edgekit.train)


# --- validation -------------------------------------------------------------------------------------------------
def resolve_formats(opts: ExportOptions) -> list[str]:
    from edgekit.export import formats as table

    explicit = opts.formats is not None
    known = format_names()  # the formats table, read now: a format module added to it counts
    names = list(opts.formats) if explicit else list(default_formats())
    if "all" in names:
        names, explicit = list(known), False
    for n in names:
        if n not in known:
            from edgekit.errors import did_you_mean

            raise did_you_mean("format", n, known)
    rows = table()
    kept = []
    for n in dict.fromkeys(names):
        if opts.precision in rows[n].precisions:
            kept.append(n)
        elif explicit:
            if n == "edgetpu":
                raise UsageError("the Edge TPU runs only full-integer models: use --int8 with --format edgetpu")
            raise UsageError(f"{n} has no {opts.precision} export; it offers {', '.join(rows[n].precisions)}")
    if not kept:
        raise UsageError(f"no format offers {opts.precision}")
    if opts.keep_float and opts.precision != "int8":
        raise UsageError("--keep-float keeps layers float inside an INT8 model: use it with --int8")
    if "edgetpu" in kept and opts.io == "float":
        raise UsageError("--format edgetpu needs int8 input/output: drop --io float")
    return kept


def check_writable(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise EdgekitError(f"cannot write to output folder {root}: {exc.strerror or exc}") from exc


# --- the float model --------------------------------------------------------------------------------------------
def load_source(opts: ExportOptions) -> Source:
    import keras

    keras.backend.clear_session()  # Keras numbers unnamed layers per process: a second export must name them alike
    keras.utils.set_random_seed(opts.seed)  # --weights none: the same seed gives the same random weights
    path = Path(opts.model)
    if path.suffix == ".keras" or path.exists():
        return load_keras_file(path, opts)
    from edgekit.models.registry import create_model, get_spec

    spec = get_spec(opts.model)
    size = opts.input_size or spec.default_input_size
    model = create_model(spec.name, size, opts.num_classes, opts.alpha, opts.weights)  # checks the size too
    from edgekit.models.weights import weights_used

    build = {"input_size": size, "num_classes": opts.num_classes, "alpha": opts.alpha, "weights": opts.weights}
    build["weights_used"] = weights_used(model)  # what --weights auto resolved to
    if opts.preprocess:
        from edgekit.datasets import parse_preprocess

        pre = parse_preprocess(opts.preprocess)
        return Source(model, spec.name, pre, size, {**build, "preprocess": "--preprocess"})
    return Source(model, spec.name, spec.preprocess, size, build)


def validate_model(opts: ExportOptions) -> str:
    """Fail fast (before any heavy import) on an unknown model, a missing file or an impossible input size."""
    path = Path(opts.model)
    if path.suffix == ".keras" or path.exists():
        if not path.is_file():
            raise UsageError(f"no such model file: {path}")
        from edgekit.safety import check_name

        return check_name(path.stem, "model name (the .keras file's name)")
    from edgekit.models.registry import get_spec

    spec = get_spec(opts.model)
    spec.check_input_size(opts.input_size or spec.default_input_size)
    return spec.name


def load_keras_file(path: Path, opts: ExportOptions) -> Source:
    """A user's .keras file, loaded in Keras safe mode: lambdas and unknown custom layers are refused."""
    if not path.exists():
        raise UsageError(f"no such model file: {path}")
    if path.suffix != ".keras":
        raise UsageError(f"{path} is not a .keras file (export takes a model name or a .keras file)")
    from edgekit.export.quiet import quiet_tf
    from edgekit.safety import check_keras_file

    with quiet_tf():
        import keras

        check_keras_file(path)  # Lambda bytecode, foreign modules, archive traversal: refused before Keras reads it
        try:
            from edgekit.models.blocks import custom_objects

            # edgekit's own layers (ViT's class token, position embedding) are known; nothing else is deserialised.
            model = keras.models.load_model(str(path), safe_mode=True, compile=False, custom_objects=custom_objects())
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UsageError(f"refusing to load {path.name} (Keras safe mode): {reason[:300]}") from exc
    shape = model.inputs[0].shape
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2]:
        raise UsageError(f"{path.name}: edgekit exports NHWC image classifiers with a square static input, got {shape}")
    from edgekit.datasets import keras_file_preprocess, training_record

    meta: dict[str, Any] = {}
    manifest = path.with_name("manifest.json")
    if manifest.exists():  # built or trained by edgekit: keep its name and preprocessing
        try:
            meta = json.loads(manifest.read_text())
        except ValueError:
            meta = {}
    name = meta.get("model", path.stem)
    pre, origin = keras_file_preprocess(model, meta, opts.preprocess)
    build = {
        "input_size": int(shape[1]),
        "num_classes": int(model.outputs[0].shape[-1]),
        "file": str(path),
        "file_sha256": sha256_file(path),
        "preprocess": origin,
    }
    return Source(model, name, pre, int(shape[1]), build, training_record(path))


def iter_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from iter_layers(layer)


def reestimate_batchnorm(model, images: np.ndarray, batch: int = 64, chunk: int = 8) -> int:
    """Untrained BatchNorm layers hold mean 0 / var 1, so activations explode or collapse and int8 ranges mean
    nothing: replace the statistics with those of real images (training-mode passes over `batch` images).

    Eager Keras keeps every activation of a call alive until it returns (ResNet50, 64 images at 224 px: 10.2 GB),
    so the images go through in chunks; momentum i/(i+1) at chunk i makes the moving statistics the mean of the
    chunks' statistics (the mean exactly; the variance without the small spread between chunk means)."""
    import keras

    bns = [layer for layer in iter_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns:
        return 0
    saved = [layer.momentum for layer in bns]
    try:
        for i, start in enumerate(range(0, min(batch, len(images)), chunk)):
            for layer in bns:
                layer.momentum = i / (i + 1)
            model(images[start : min(start + chunk, batch)], training=True)
    finally:
        for layer, m in zip(bns, saved, strict=True):
            layer.momentum = m
    return len(bns)


def predict_in_chunks(model, images: np.ndarray, chunk: int = 8) -> np.ndarray:
    """Inference-mode logits, a few images per call (ResNet50, 32 images in one call: 5.5 GB peak)."""
    parts = [model(images[i : i + chunk], training=False) for i in range(0, len(images), chunk)]
    return np.concatenate([np.asarray(p, np.float32) for p in parts], axis=0)


# --- data ---------------------------------------------------------------------------------------------------------
def calibration_and_holdout(opts: ExportOptions, size: int, pre: Preprocess, training: dict | None = None):
    from edgekit import data

    if training and opts.calib == "builtin":  # a model edgekit trained: its own training and validation images
        from edgekit.datasets import labelled_sets

        sets = labelled_sets(training, opts.calib_size, size, pre, opts.seed)
        if sets is not None:
            return sets
        from edgekit import console

        console.warn(f"the training images in {training['data_root']} are gone: calibrating on builtin photographs")
    if opts.calib in ("builtin", "synthetic"):
        make = data.builtin if opts.calib == "builtin" else data.synthetic
        return make(opts.calib_size, size, pre, opts.seed), make(opts.holdout, size, pre, opts.seed + 1)
    full = data.from_folder(Path(opts.calib), opts.calib_size + opts.holdout, size, pre, opts.seed)
    if len(full) < 2:
        return full, full
    return full.split(opts.holdout)


# --- orchestration ------------------------------------------------------------------------------------------------
def artifact_dir(root: Path, model: str, fmt: str, precision: str) -> Path:
    from edgekit.safety import check_name

    return root / check_name(model) / f"{fmt}-{precision}"  # a foreign manifest's name must not climb out of root


def tool_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in (
        "tensorflow-cpu",
        "tensorflow",
        "keras",
        "tf2onnx",
        "onnx",
        "onnxruntime",
        "openvino",
        "nncf",
        "ai-edge-litert",
        "numpy",
    ):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def cached_artifact(final: Path, key: str) -> dict[str, Any] | None:
    """An earlier artifact made with the same options whose files still match their recorded hashes."""
    manifest = final / "manifest.json"
    try:
        meta = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    if meta.get("options_key") != key or meta.get("status") != "ok":
        return None
    for f in meta.get("files", []):
        p = final / f["path"]
        if not p.exists() or sha256_file(p) != f["sha256"]:
            return None
    return meta


def export(opts: ExportOptions, on_step=None) -> list[dict[str, Any]]:
    """Export one model to every requested format; returns one record per artifact (the --json output)."""
    from edgekit import console
    from edgekit.export import formats as table
    from edgekit.export import side as side_mod

    console.err_stream()  # keep a handle on the real stderr before converters silence fd 2
    show = on_step or console.info

    def step(msg: str) -> None:
        side_mod.stage(msg)
        show(msg)

    if opts.io not in ("int8", "float"):
        raise UsageError("--io must be int8 or float")
    if opts.holdout < 1:
        raise UsageError("--holdout must be at least 1")
    names = resolve_formats(opts)
    model_name = validate_model(opts)
    root = Path(opts.out) if opts.out else DEFAULT_OUT
    from edgekit.safety import check_folder

    check_writable(check_folder(root, "output folder"))
    if opts.reuse:
        hits = [cached_artifact(artifact_dir(root, model_name, n, opts.precision), opts.key(n)) for n in names]
        if all(hits):
            return [
                record_from_manifest(artifact_dir(root, model_name, n, opts.precision), m)
                for n, m in zip(names, hits, strict=True)
            ]

    t0 = time.perf_counter()
    step(f"building {opts.model}")
    from edgekit.export.quiet import quiet_env, quiet_tf

    quiet_env()
    with quiet_tf():
        src = load_source(opts)
    step(f"loading calibration images ({opts.calib}, {opts.calib_size} + {opts.holdout} held out)")
    calib, holdout = calibration_and_holdout(opts, src.input_size, src.preprocess, src.training)
    if opts.calib == "synthetic":
        console.warn("calibrating on synthetic images (asked for): INT8 ranges will not reflect real photographs")
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
        from edgekit.export.keepfloat import plan

        keep = plan(src.model, opts.keep_float)  # unknown names fail here, before any conversion
        step(f"keeping {len(opts.keep_float)} layer(s) float: {', '.join(opts.keep_float)}")
    side_mod.stage("keras reference outputs on the held-out images")
    reference = predict_in_chunks(src.model, holdout.images)  # one eager call would hold every activation
    if not untrained:  # a random network scores chance by design; a trained one near chance is fed the wrong inputs
        from edgekit.datasets import one_line, warn_if_near_chance

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
        )
        side = start_side_export(shared, src.model, names)
        try:
            if side is not None:
                side_now = f"{src.name} -> {', '.join(side.formats)} {opts.precision}"
                if side.mode == side_mod.FIRST:  # not enough memory for both at once: the side goes first
                    step(f"exporting {side_now} (one conversion at a time)")
                    records.update(finish_side_export(side, src, shared))
                elif side.mode == side_mod.UNTIL_QUANTIZE:  # TensorFlow's peak, in quantization, waits for the side
                    step(f"exporting {side_now} alongside, until TFLite quantizes (memory for both peaks is short)")
                    calib.on_end = partial(side_mod.wait_exit, side)
            for name in names:
                if side is not None and name in side.formats:
                    continue
                step(f"exporting {src.name} -> {name} {opts.precision}")
                total = len(calib) if opts.precision == "int8" else None
                with console.progress(f"{name} {opts.precision}", total=total) as advance, quiet_tf():
                    calib.tick = advance  # converters print to fd 1 and 2 (silenced); the bar uses its own handle
                    records[name] = export_one(rows[name], src, shared)
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
    return [records[name] for name in names]


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
    keep_float: dict[str, Any] | None = None  # edgekit.export.keepfloat.plan: the layers and their scopes


def start_side_export(shared: SharedInputs, model, names: list[str]):
    """ONNX Runtime / NNCF work goes to a second process (edgekit.export.side): beside TensorFlow's TFLite
    conversion when both fit in memory (TensorFlow holds the GIL, so only a process gains), else before it."""
    from edgekit.export import formats as table
    from edgekit.export import side

    rows = table()
    calibrates = shared.opts.precision == "int8" and "tflite" in names
    names_side, mode = side.plan_side(
        [n for n in names if rows[n].side], len(names), model.count_params() * 4, shared.opts.parallel, calibrates
    )
    if not names_side:
        return None
    from edgekit.export.onnx import keras2onnx

    side.stage("onnx fp32: keras2onnx (TensorFlow graph, before the side process starts)")
    keras2onnx(model, shared.work / "model-fp32.onnx")  # TensorFlow work: done here, before the split
    side.release_memory()  # tf2onnx's garbage, before a second process needs the room
    return side.start(shared, names_side, mode)


def finish_side_export(side_export, src: Source, shared: SharedInputs) -> dict[str, dict[str, Any]]:
    """Collect the side process's records; out of memory there is a clean failure of that format, any other death
    exports the missing formats here instead (never lose them)."""
    from edgekit.export import formats as table
    from edgekit.export import side
    from edgekit.export.quiet import quiet_tf

    records, missing = side.finish(side_export, shared)
    rows = table()
    with quiet_tf():
        records.update({name: export_one(rows[name], src, shared) for name in missing})
    return records


def export_one(fmt, src: Source | None, shared: SharedInputs) -> dict[str, Any]:
    """Convert, verify and write one artifact atomically; src.model is only needed by TensorFlow formats."""
    from edgekit.export.base import ExportJob
    from edgekit.verify import compare, gate

    opts, calib, holdout, work = shared.opts, shared.calib, shared.holdout, shared.work
    final = artifact_dir(shared.root, shared.name, fmt.name, opts.precision)
    model = src.model if src is not None else None
    t0 = time.perf_counter()
    manifest: dict[str, Any] = {}
    from edgekit.export.side import stage

    try:
        with atomic_dir(final) as tmp:
            job = ExportJob(model, shared.name, opts.precision, opts.io, calib, tmp, work, input_size=shared.input_size)
            job.keep_float = shared.keep_float
            stage(f"{fmt.name} {opts.precision}: conversion")
            files = fmt.convert(job)
            convert_s = time.perf_counter() - t0
            stage(f"{fmt.name} {opts.precision}: fidelity check")
            runner = fmt.load(files[0], {"precision": job.precision}, opts.threads)
            fidelity = compare(shared.reference, runner.run(holdout.images), holdout.labels)
            reason = gate(fidelity, opts.min_cosine, opts.max_accuracy_drop)
            manifest = build_manifest(fmt, job, shared, files, fidelity)
            manifest["timings_s"] = {"convert": round(convert_s, 2), "total": round(time.perf_counter() - t0, 2)}
            manifest["gate"] = {"passed": reason is None, "reason": reason}
            if wants_layer_report(opts, job, fidelity):
                stage(f"{fmt.name} {opts.precision}: layer report (converts and calibrates again)")
                t_report = time.perf_counter()
                manifest["layer_errors"] = layer_report_safe(model, calib, holdout, job.io)
                manifest["timings_s"]["layer_report"] = round(time.perf_counter() - t_report, 2)
            write_json_atomic(tmp / "manifest.json", manifest)
    except EdgekitError:
        raise
    except Exception as exc:  # a converter failure: report it for this format, keep going with the others
        if os.environ.get("EDGEKIT_DEBUG"):
            raise
        msg = f"{type(exc).__name__}: " + (str(exc).strip().splitlines() or [""])[-1][:300]
        if isinstance(exc, MemoryError):  # name the stage, the peak and the knob (edgekit.export.side)
            from edgekit.export.side import memory_error

            msg = memory_error(fmt.name, opts.precision, "MemoryError")
        return {
            "model": shared.name,
            "format": fmt.name,
            "precision": opts.precision,
            "path": str(final),
            "size_bytes": None,
            "sha256": None,
            "status": "failed",
            "error": msg,
            "fidelity": None,
        }
    return record_from_manifest(final, manifest)


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
    from edgekit.export.keepfloat import layer_scopes, output_layer_name, rerun_command, suggest_layers
    from edgekit.export.quiet import quiet_tf

    errors = None
    for r in records.values():  # a TFLite artifact may have run the debugger already
        found = json.loads(Path(r["manifest"]).read_text()).get("layer_errors") if r.get("manifest") else None
        errors = found if isinstance(found, list) else errors
    if errors is None:
        step("INT8 lost more accuracy than --max-accuracy-drop: per-layer INT8 report, to name layers to keep float")
        with quiet_tf():
            errors = layer_report_safe(src.model, shared.calib, shared.holdout, opts.io)
    if not isinstance(errors, list):
        return  # the debugger failed: the gate's reason stands alone
    with quiet_tf():
        scopes = shared.keep_float["all_scopes"] if shared.keep_float else layer_scopes(src.model)
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


def layer_report_safe(model, calib, holdout, io: str) -> list[dict[str, Any]] | dict[str, str]:
    from edgekit.export.tflite import layer_error_report

    try:
        return layer_error_report(model, calib, holdout.images[:16], io)
    except Exception as exc:  # the debugger is a diagnostic: never fail an export because of it
        return {"error": f"quantization debugger failed: {type(exc).__name__}: {str(exc)[:200]}"}


def build_manifest(fmt, job, shared: SharedInputs, files: list[Path], fidelity: dict[str, Any]) -> dict:
    from edgekit.datasets import preprocess_name

    opts, calib = shared.opts, shared.calib
    return {
        "edgekit_version": __version__,
        "status": "ok",
        "options_key": opts.key(fmt.name),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": shared.name,
        "format": fmt.name,
        "precision": job.precision,
        "files": [{"path": p.name, "bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in files],
        **fmt.io_details(files[0]),
        "preprocess": {**shared.preprocess.to_dict(), "mode": preprocess_name(shared.preprocess)},
        "build": shared.build,
        "calibration": {**calib.describe(), "used": job.precision == "int8", "batchnorm_reestimated": shared.bn_layers},
        "holdout": shared.holdout.describe(),
        "fidelity": fidelity,
        "keep_float": list(opts.keep_float),
        "tool_versions": tool_versions(),
        "host": {"machine": platform.machine(), "system": platform.system()},
        **job.extra,
    }


def record_from_manifest(final: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    main = manifest["files"][0]
    rec = {
        "model": manifest["model"],
        "format": manifest["format"],
        "precision": manifest["precision"],
        "path": str(final / main["path"]),
        "size_bytes": sum(f["bytes"] for f in manifest["files"] if not f["path"].endswith(".log")),
        "sha256": main["sha256"],
        "status": "ok" if manifest.get("gate", {}).get("passed", True) else "below-threshold",
        "fidelity": manifest.get("fidelity"),
        "manifest": str(final / "manifest.json"),
        "keep_float": manifest.get("keep_float", []),
    }
    if manifest.get("keep_float_suggestion"):
        rec["keep_float_suggestion"] = manifest["keep_float_suggestion"]
    if manifest.get("gate", {}).get("reason"):
        rec["reason"] = manifest["gate"]["reason"]
    if "compiler" in manifest:
        rec["compiler"] = manifest["compiler"].get("status", "ok")
    if manifest.get("layer_errors"):
        rec["worst_layers"] = manifest["layer_errors"][:3] if isinstance(manifest["layer_errors"], list) else None
    return rec
