"""The float model an export starts from (a zoo name or a .keras file), its formats and its calibration images."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from edgekit import console
from edgekit.errors import EdgekitError, UsageError, did_you_mean
from edgekit.exporting.formats import default_formats, format_names, formats
from edgekit.exporting.options import ExportOptions, Source
from edgekit.ioutil import sha256_file
from edgekit.models.registry import Preprocess
from edgekit.quiet import quiet_tf
from edgekit.safety import check_keras_file, check_name


# --- validation -------------------------------------------------------------------------------------------------
def resolve_formats(opts: ExportOptions) -> list[str]:
    explicit = opts.formats is not None
    known = format_names()  # the formats table, read now: a format module added to it counts
    names = list(opts.formats) if explicit else list(default_formats())
    if "all" in names:
        names, explicit = list(known), False
    for n in names:
        if n not in known:
            raise did_you_mean("format", n, (*known, "all"), listed=True)
    rows = formats()
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
        from edgekit.data.labelled import parse_preprocess

        pre = parse_preprocess(opts.preprocess)
        return Source(model, spec.name, pre, size, {**build, "preprocess": "--preprocess"})
    return Source(model, spec.name, spec.preprocess, size, build)


def validate_model(opts: ExportOptions) -> str:
    """Fail fast (before any heavy import) on an unknown model, a missing file or an impossible input size."""
    path = Path(opts.model)
    if path.suffix == ".keras" or path.exists():
        if not path.is_file():
            raise UsageError(f"no such model file: {path}")

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
    from edgekit.data.labelled import keras_file_preprocess, training_record

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


# --- data ---------------------------------------------------------------------------------------------------------
def calibration_and_holdout(opts: ExportOptions, size: int, pre: Preprocess, training: dict | None = None):
    from edgekit.data import calibration as data

    if training and opts.calib == "builtin":  # a model edgekit trained: its own training and validation images
        from edgekit.data.labelled import labelled_sets

        sets = labelled_sets(training, opts.calib_size, size, pre, opts.seed)
        if sets is not None:
            return sets

        console.warn(f"the training images in {training['data_root']} are gone: calibrating on builtin photographs")
    if opts.calib in ("builtin", "synthetic"):
        make = data.builtin if opts.calib == "builtin" else data.synthetic
        return make(opts.calib_size, size, pre, opts.seed), make(opts.holdout, size, pre, opts.seed + 1)
    full = data.from_folder(Path(opts.calib), opts.calib_size + opts.holdout, size, pre, opts.seed)
    if len(full) < 2:
        return full, full
    return full.split(opts.holdout)
