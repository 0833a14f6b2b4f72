"""The Python API: what the `edgekit` commands do, as functions for notebooks and scripts.

Each function takes keyword arguments named after the command's options (`--input-size` -> `input_size`, the
precision flags -> `precision="int8"`), returns the records the command prints with `--json` (plain dicts and lists)
and raises edgekit.errors.UsageError on bad input (EdgekitError on other expected failures); nothing calls sys.exit.
The stage modules (and TensorFlow, ONNX, OpenVINO behind them) load inside the functions: `import edgekit` is
instant, and a bad argument fails before any heavy library loads.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from edgekit.errors import EdgekitError, UsageError

__all__ = ["build", "compare", "export", "predict", "profile", "recommend", "train"]

Progress = Callable[[str], None]  # receives one line of progress (or, for profile's on_error, one error line)
PathLike = str | Path
Precision = Literal["fp32", "fp16", "int8", "dynamic"]
ChoosePrecision = Literal["int8", "fp32"]

EXPORT_PRECISIONS = ("fp32", "fp16", "int8", "dynamic")
CHOOSE_PRECISIONS = ("int8", "fp32")  # compare and recommend rank what edge targets run


# --- argument checks: the bounds the CLI's options enforce (typer checks those before the API is called) -------------
def _at_least(name: str, value: float | None, low: float) -> None:
    if value is not None and value < low:
        raise UsageError(f"{name} must be at least {low:g}, got {value:g}")


def _between(name: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise UsageError(f"{name} must be between {low:g} and {high:g}, got {value:g}")


def _check_model_options(input_size: int | None, num_classes: int, alpha: float | None) -> None:
    _at_least("input_size", input_size, 8)
    _at_least("num_classes", num_classes, 1)
    _between("alpha", alpha, 0.1, 4.0)


def _precision(value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise UsageError(f"precision must be one of {', '.join(allowed)}, got {value!r}")


def _listed(value: PathLike | Sequence[PathLike] | None) -> list[str] | None:
    """One item or a sequence -> a list of strings, as the command's repeated arguments arrive (no splitting)."""
    if value is None:
        return None
    return [str(value)] if isinstance(value, str | Path) else [str(v) for v in value]


def _names(value: str | Sequence[str] | None, what: str, lower: bool = False) -> tuple[str, ...] | None:
    """Names as a sequence or one comma-separated string -> a tuple (None stays None: the command's default)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    names = tuple(str(v).strip().lower() if lower else str(v).strip() for v in items if str(v).strip())
    if not names:
        raise UsageError(f"{what} needs at least one name")
    return names


def _path(value: PathLike | None) -> Path | None:
    return Path(value) if value else None


def _plain(obj: Any) -> Any:
    """The record exactly as `--json` prints it: JSON types only (paths and other objects as strings)."""
    return json.loads(json.dumps(obj, default=str))


# --- build / train / export -------------------------------------------------------------------------------------------
def build(
    model: str,
    *,
    input_size: int | None = None,
    num_classes: int = 1000,
    alpha: float | None = None,
    weights: str = "auto",
    softmax: bool = False,
    out: PathLike | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Build a zoo model and write <out>/<model>/keras/<model>.keras with a manifest.json beside it (`edgekit build`).

    Args:
        model: a model name (see `edgekit models`).
        input_size: square input size (default: the model's).
        num_classes: output classes.
        alpha: width multiplier (MobileNet families).
        weights: "auto" (ImageNet if available, else random: seeded by seed), "imagenet", "none" or a weights file.
        softmax: end in a softmax instead of logits.
        out: export root (default ./edgekit-out).

    Returns:
        The manifest: path, files, build options, input shape, preprocessing, params and MACs.
    """
    _check_model_options(input_size, num_classes, alpha)
    from edgekit.models.build import build_to_dir
    from edgekit.models.registry import get_spec

    folder = Path(out) / get_spec(model).name / "keras" if out else None  # None: the same under ./edgekit-out
    head = "softmax" if softmax else None
    return _plain(build_to_dir(model, input_size, num_classes, alpha, weights, folder, head, seed))


def train(
    model: str,
    *,
    data: str,
    strategy: Literal["auto", "transfer", "finetune", "scratch"] = "auto",
    epochs: int = 30,
    input_size: int | None = None,
    batch_size: int = 32,
    val_split: float = 0.2,
    weights: str = "auto",
    alpha: float | None = None,
    out: PathLike | None = None,
    resume: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train a zoo model on labelled images into a .keras model that `export` takes (`edgekit train`).

    Args:
        model: a model name (see `edgekit models`).
        data: an image folder with one subfolder per class, or "builtin:digits".
        strategy: "auto", "transfer" (frozen backbone), "finetune" or "scratch".
        epochs: at most this many epochs (early stopping ends sooner).
        input_size: square input size (default: the model's).
        batch_size: images per training step.
        val_split: validation fraction, stratified per class (0 < val_split < 1).
        weights: pretrained weights: "auto", "imagenet", "none" or a weights file.
        alpha: width multiplier (MobileNet families).
        out: export root (default ./edgekit-out); the model goes to <out>/<model>-<data>/keras/.
        resume: continue an interrupted run from its checkpoint.
        seed: seed of the validation split, the initial weights and the shuffling (recorded in the manifest).
        progress: called with each progress line (default: one line at a time on stderr).

    Returns:
        The trained model's manifest, with its strategy, history and validation accuracy.
    """
    _check_model_options(input_size, 1, alpha)
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        _at_least(name, value, 1)
    from edgekit.training.loop import TrainOptions, validate
    from edgekit.training.loop import train as run_train

    opts = TrainOptions(model, data, strategy, epochs, input_size, batch_size, val_split, weights, alpha, _path(out),
                        resume, seed=seed)  # fmt: skip
    validate(opts)  # bad options fail before TensorFlow loads
    return _plain(run_train(opts, say=progress))


def export(
    model: PathLike,
    *,
    precision: Precision = "fp32",
    formats: str | Sequence[str] | None = None,
    calib: str = "builtin",
    calib_size: int = 200,
    holdout: int = 32,
    io: Literal["int8", "float"] = "int8",
    input_size: int | None = None,
    alpha: float | None = None,
    num_classes: int = 1000,
    weights: str = "auto",
    out: PathLike | None = None,
    min_cosine: float | None = None,
    max_accuracy_drop: float | None = None,
    layer_report: bool | None = None,
    seed: int = 0,
    preprocess: str | None = None,
    keep_float: str | Sequence[str] | None = None,
    targets: str | Sequence[str] | None = None,
    dynamic_batch: bool = False,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Quantize and export a model, then check each artifact's fidelity against Keras (`edgekit export`).

    Args:
        model: a model name or a .keras file.
        precision: "fp32", "fp16", "int8" (full-integer, calibrated) or "dynamic" (TFLite dynamic-range weights).
        formats: format names (see `edgekit formats`), as a list or "a,b"; "all" for every one; None: the default set.
        calib: calibration images: an image folder, "builtin" or "synthetic".
        calib_size, holdout: calibration images used, and held-out images for the fidelity check.
        io: the int8 TFLite's input/output type: "int8" or "float".
        input_size, alpha, num_classes, weights: how a model name is built (as in `build`).
        out: export root (default ./edgekit-out) holding <model>/<format>-<precision>/ folders.
        min_cosine, max_accuracy_drop: mark an artifact "below-threshold" under this cosine similarity to Keras, or
            if labelled top-1 accuracy drops by more percentage points.
        layer_report: per-layer INT8 error of the TFLite (None: only when an int8 TFLite looks damaged).
        seed: seed of random weights and of the calibration and held-out samples.
        preprocess: "raw", "tf", "torch", "caffe" or "mean=R,G,B:std=R,G,B" (default: the model's).
        keep_float: Keras layers that stay float in an int8 export, as a list or "a,b".
        targets: target ids (`edgekit targets`) the artifacts are for, as a list or "a,b": each format is made with
            the settings their runtimes want, one artifact per distinct setting (None: this host).
        dynamic_batch: ONNX and OpenVINO IR take any batch (a symbolic first dimension; <format>-<precision>-anybatch).
        progress: called with each step's line (default: the lines go to stderr).

    Returns:
        One record per artifact; failures too: check each record's "status" ("failed" or "below-threshold")."""
    _check_model_options(input_size, num_classes, alpha)
    _at_least("calib_size", calib_size, 1)
    if io not in ("int8", "float"):
        raise UsageError("--io must be int8 or float")
    _precision(precision, EXPORT_PRECISIONS)
    from edgekit.exporting.keepfloat import parse_keep_float
    from edgekit.exporting.pipeline import ExportOptions
    from edgekit.exporting.pipeline import export as run_export

    # A string goes through the CLI's own parser, so its messages stay the command's.
    if isinstance(keep_float, str) or keep_float is None:
        kept = parse_keep_float(keep_float)
    else:
        kept = tuple(dict.fromkeys(_names(keep_float, "keep_float") or ()))  # as parse_keep_float: once each
    if preprocess:
        from edgekit.data.labelled import parse_preprocess

        parse_preprocess(preprocess)  # a bad spelling fails before TensorFlow loads
    from edgekit.exporting.targeting import parse_targets

    opts = ExportOptions(
        model=str(model), precision=precision, formats=_names(formats, "formats", lower=True), calib=calib,
        calib_size=calib_size, holdout=holdout, io=io, input_size=input_size, alpha=alpha, num_classes=num_classes,
        weights=weights, out=_path(out), seed=seed, min_cosine=min_cosine, max_accuracy_drop=max_accuracy_drop,
        layer_report=layer_report, preprocess=preprocess, keep_float=kept, targets=parse_targets(targets),
        dynamic_batch=bool(dynamic_batch),
    )  # fmt: skip
    return _plain(run_export(opts, on_step=progress))


# --- profile / predict ------------------------------------------------------------------------------------------------
def profile(
    items: PathLike | Sequence[PathLike] | None = None,
    *,
    target: str | None = None,
    threads: int | None = None,
    runs: int = 50,
    min_seconds: float = 1.0,
    warmup: int = 5,
    precision: Precision | None = None,
    formats: str | Sequence[str] | None = None,
    input_size: int | None = None,
    alpha: float | None = None,
    num_classes: int = 1000,
    weights: str = "auto",
    calib: str = "builtin",
    calib_size: int = 200,
    io: Literal["int8", "float"] = "int8",
    seed: int = 0,
    predict: bool = False,
    emulate: bool = False,
    guest_runtime: str = "litert",
    timeout: float = 600,
    save: bool = True,
    profiles_dir: PathLike = "profiles",
    out: PathLike | None = None,
    link: str | None = None,
    host: str | Sequence[str] | None = None,
    hosts: PathLike | None = None,
    identity: PathLike | None = None,
    remote_python: str | None = None,
    ssh_config: PathLike | None = None,
    cpus: str | None = None,
    cooldown_c: float | None = None,
    power_cmd: str | None = None,
    device: Literal["CPU", "GPU", "NPU"] | None = None,
    delegate: Literal["edgetpu"] | None = None,
    mode: Literal["latency", "throughput"] = "latency",
    batch: int = 1,
    xnnpack_fp16: bool = False,
    no_xnnpack: bool = False,
    max_seconds: float | None = None,
    inputs: PathLike | None = None,
    progress: Progress | None = None,
    on_error: Progress | None = None,
) -> list[dict[str, Any]]:
    """Measure artifacts here or on boards over SSH, emulate an ARM board, or predict (`edgekit profile`).

    Every result says which it is in its "source": "measured", "emulated" or "predicted".

    Args:
        items: model names (exported first, cached), artifacts or export folders; None: everything under `out`.
        target: target id (see `edgekit targets`; default "host", or the remote's).
        threads: inference threads (default 1 on the host).
        runs, min_seconds, warmup: at least this many timed runs, for at least this long, after warm-up runs.
        precision: "fp32", "fp16", "int8" or "dynamic" (default: the target's).
        formats: only these formats, as a list or "a,b".
        input_size, alpha, num_classes, weights, calib, calib_size, io, seed: how a model name is exported.
        predict: predict with the cost model even where measuring is possible.
        emulate: run under QEMU as the target's CPU (rpi4, rpi5).
        guest_runtime: the runtime inside the emulated guest: "litert" or "tflite-runtime".
        timeout: seconds per artifact before giving up.
        save: keep the results under profiles_dir/<target>/.
        profiles_dir: the results folder (default ./profiles).
        out: export root (default ./edgekit-out).
        link: the Edge TPU link to predict for: "usb2", "usb3" or "pcie" (default: the target's).
        host: measure over SSH on USER@ADDR[:PORT], one or a list (a fleet).
        hosts: a fleet TOML file.
        identity, remote_python, ssh_config: SSH private key, Python on the remote, ssh_config file.
        cpus: pin the device runner to these CPUs, e.g. "2-3".
        cooldown_c: wait until the board is below this temperature (°C).
        power_cmd: a meter command printing watts.
        device, delegate, mode, batch, xnnpack_fp16, no_xnnpack, max_seconds, inputs: how the timing runs: OpenVINO's
            device, LiteRT's Edge TPU delegate, "throughput" (measured frames/s), the batch, XNNPACK, a time bound on
            the timed loop, a folder of images fed as the manifest says (edgekit.measure.options.TimingOptions).
        progress: called with the remote measurement's progress lines (default: none).
        on_error: called with each error line (an artifact that failed, a result not saved); the failed results are
            in the returned list too. Default: each line is a RuntimeWarning (the command exits 1 instead).

    Returns:
        One result per artifact, as `edgekit profile --json` prints them.
    """
    _check_model_options(input_size, num_classes, alpha)
    bounds = (("threads", threads, 1), ("runs", runs, 1), ("min_seconds", min_seconds, 0), ("warmup", warmup, 0))
    for name, value, low in (*bounds, ("calib_size", calib_size, 1), ("timeout", timeout, 1)):
        _at_least(name, value, low)
    _precision(precision, EXPORT_PRECISIONS)
    from edgekit.measure.options import timing_options
    from edgekit.stages.profile import ProfileRequest, profile_all

    timing = timing_options(device, delegate, mode, batch, xnnpack_fp16, no_xnnpack, max_seconds, inputs)
    req = ProfileRequest(
        items=_listed(items) or [], target=target or "host", threads=threads, runs=runs, min_seconds=min_seconds,
        warmup=warmup, precision=precision, formats=_names(formats, "formats", lower=True), input_size=input_size,
        build=dict(alpha=alpha, num_classes=num_classes, weights=weights, calib=calib, calib_size=calib_size, io=io,
                   seed=seed),
        predict=predict, emulate=emulate, guest_runtime=guest_runtime, timeout=timeout, save=save,
        profiles_dir=Path(profiles_dir), export_root=_path(out), link=link, timing=timing,
    )  # fmt: skip
    host_list = _listed(host) or []
    remote = dict(
        identity=_path(identity), python=remote_python, ssh_config=_path(ssh_config), cpus=cpus, power_cmd=power_cmd
    )
    if host_list or hosts or any(v is not None for v in (*remote.values(), cooldown_c)):
        # Boards over SSH, or the device runner here with pinning / cool-down / a meter (edgekit.stages.fleet).
        from edgekit.stages.fleet import options_from_cli, profile_remote

        opts = options_from_cli(host_list, _path(hosts), target, cooldown_c=cooldown_c, **remote)
        results, errors = profile_remote(req, opts, say=progress)
    else:
        results, errors = profile_all(req)
    for line in errors:
        if on_error is not None:
            on_error(line)
        else:
            warnings.warn(f"edgekit profile: {line}", RuntimeWarning, stacklevel=2)
    return _plain(results)


def predict(
    artifact: PathLike,
    *,
    target: str = "host",
    threads: int | None = None,
    link: str | None = None,
) -> dict[str, Any]:
    """Predict one artifact's latency, energy and memory on a target with the cost model; nothing is run or saved.

    The same result as `edgekit profile ARTIFACT --predict --target TARGET --no-save --json` (its one element).

    Args:
        artifact: a .tflite, .onnx or OpenVINO .xml file, or an artifact folder (with its manifest.json).
        target: target id (see `edgekit targets`).
        threads: inference threads the prediction assumes (default: the target's).
        link: the Edge TPU link: "usb2", "usb3" or "pcie" (default: the target's).

    Returns:
        The predicted result ("source": "predicted").
    """
    _at_least("threads", threads, 1)
    path = Path(artifact)
    if not path.exists():  # a model name would be exported first: profile(name, predict=True) does that
        raise UsageError(f"no such artifact: {path}")
    from edgekit.stages.profile import ProfileRequest, profile_all

    req = ProfileRequest(items=[str(path)], target=target, threads=threads, predict=True, save=False, link=link)
    results, errors = profile_all(req)
    if errors:
        raise EdgekitError(errors[0])
    if len(results) != 1:
        raise UsageError(f"{path} holds {len(results)} artifacts: name one file, or use profile(..., predict=True)")
    return _plain(results[0])


# --- compare / recommend ----------------------------------------------------------------------------------------------
def compare(
    models: str | Sequence[str] | None = None,
    *,
    target: str,
    precision: ChoosePrecision | None = None,
    input_size: int | None = None,
    num_classes: int = 1000,
    csv: PathLike | None = None,
    html: PathLike | None = None,
    plots: PathLike | None = None,
    layers: str | None = None,
    saved_only: bool = False,
    profiles_dir: PathLike = "profiles",
    progress: Progress | None = None,
    runtime: str | None = None,
    format: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """One row per model on a target: size, MACs, latency, energy, memory, accuracy, each figure with its source
    (`edgekit compare`). Saved profiles are used where they match; the rest is predicted on the spot.

    Args:
        models: model names, .keras/.tflite/.onnx/.xml files or export folders (default: the notes' architectures).
        target: target id (see `edgekit targets`), or several ("rpi4,rpi5": one table each, under "targets").
        runtime, format, threads: the runtime ("all": one table each) or artifact format, threads (default: target's).
        precision: "int8" or "fp32" (default: int8).
        input_size: square input size (default: each model's).
        num_classes: output classes.
        csv: also write the rows as CSV here.
        html: also write one self-contained HTML report (tables and plots) here.
        plots: also write the plots as PNG files into this folder.
        layers: the model whose per-layer time breakdown is plotted.
        saved_only: only saved profiles; predict nothing.
        profiles_dir: the saved results (default ./profiles).
        progress: called with a line per model built for its graph (default: none).

    Returns:
        The first table {"target", "runtime", "threads", "precision", "rows", ...}, "runtimes" and "targets" if several.
    """
    _at_least("input_size", input_size, 8)
    _at_least("num_classes", num_classes, 1)
    _precision(precision, CHOOSE_PRECISIONS)
    from edgekit.choose.compare import CompareRequest, run_compare

    req = CompareRequest(
        models=_names(models, "models") if models else (),
        target=target,
        precision=precision,
        input_size=input_size,
        num_classes=num_classes,
        profiles_dir=Path(profiles_dir),
        saved_only=saved_only,
        progress=progress,
        runtime=runtime,
        format=format,
        threads=threads,
    )
    return _plain(run_compare(req, _path(csv), _path(html), _path(plots), layers))


def recommend(
    *,
    target: str,
    images_per_class: int,
    max_latency: float | None = None,
    max_size: float | None = None,
    max_energy: float | None = None,
    min_accuracy: float | None = None,
    precision: ChoosePrecision | None = None,
    input_size: int | None = None,
    profiles_dir: PathLike = "profiles",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The notes' training strategy and model rules, filtered and ranked by constraints on a target
    (`edgekit recommend`).

    Args:
        target: target id (see `edgekit targets`).
        images_per_class: labelled images per class (picks transfer learning, fine-tuning or training from scratch).
        max_latency: median latency limit, ms.
        max_size: model file size limit, MB.
        max_energy: energy per inference limit, mJ.
        min_accuracy: top-1 accuracy floor, 0-1.
        precision: "int8" or "fp32" (default: int8).
        input_size: square input size (default: each model's).
        profiles_dir: the saved results (default ./profiles).
        progress: called with a line per model built for its graph (default: none).

    Returns:
        {"strategy", "reason", "candidates", "excluded", "target", "precision", "constraints"}; when no model fits,
        also "impossible" naming the constraint that excludes them all (the command then exits 2).
    """
    _at_least("images_per_class", images_per_class, 1)
    for name, value in (("max_latency", max_latency), ("max_size", max_size), ("max_energy", max_energy)):
        _at_least(name, value, 0)
    _between("min_accuracy", min_accuracy, 0, 1)
    _at_least("input_size", input_size, 8)
    _precision(precision, CHOOSE_PRECISIONS)
    from edgekit.choose.recommend import Constraints
    from edgekit.choose.recommend import recommend as run_recommend

    constraints = Constraints(max_latency, max_size, max_energy, min_accuracy)
    out = run_recommend(target, images_per_class, constraints, precision, input_size, Path(profiles_dir), progress)
    return _plain(out)
