"""Where a built model's weights come from: 'none' (random init), 'imagenet' or a local weights file.

keras.applications refuse ImageNet weights at a non-default input size or class count, so every model is
built with weights=None at the requested shape; ImageNet weights are then copied from a reference model that
keras builds (and downloads) at its default size. The returned model thus has the same layers whatever the
weights, and a weights file saved from one build always loads into another.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from edgekit import console
from edgekit.errors import EdgekitError, UsageError
from edgekit.safety import check_keras_file

WEIGHT_SUFFIXES = (".weights.h5", ".keras", ".h5")
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".safetensors")  # publisher checkpoints (see edgekit.models.ported)
DOWNLOAD_TIMEOUT_S = 60.0
_NONE = {"", "none", "random", "null"}


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line (keras messages span many lines)."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resolve_weights(weights: str | Path | None) -> str | Path:
    """'none' | 'imagenet' | 'auto' | an existing weights file (Path); anything else is a UsageError."""
    if weights is None or str(weights).strip().lower() in _NONE:
        return "none"
    if str(weights).strip().lower() in ("imagenet", "auto"):
        return str(weights).strip().lower()
    path = Path(weights).expanduser()
    if not path.name.endswith(WEIGHT_SUFFIXES + CHECKPOINT_SUFFIXES):
        raise UsageError(
            "weights must be 'auto', 'none', 'imagenet', a .weights.h5/.keras/.h5 file or a publisher's "
            f".pth/.safetensors checkpoint, got '{weights}'"
        )
    if not path.is_file():
        raise UsageError(f"weights file not found: {path}")
    return path


def load_weights_file(model: Any, path: Path, model_name: str) -> None:
    """Load a .weights.h5, .keras (its weights only) or legacy .h5 file into an already built model."""
    if path.name.endswith(CHECKPOINT_SUFFIXES):
        raise UsageError(f"{model_name} takes no publisher checkpoint (.pth/.safetensors): Keras publishes its weights")
    if path.name.endswith(".keras"):
        check_keras_file(path, config=False)  # weights only: the archive's members are what Keras unpacks
    try:
        model.load_weights(str(path))
    except Exception as exc:  # keras raises ValueError/KeyError/OSError depending on the mismatch
        raise EdgekitError(
            f"weights file {path} does not fit {model_name} "
            f"(input {tuple(model.inputs[0].shape[1:])}, {model.outputs[0].shape[-1]} classes): {first_line(exc)}",
            hint="build with the same --input-size, --num-classes and --alpha the weights were saved with",
        ) from exc


def weights_used(model: Any) -> str:
    """Which weights a model built here holds: 'imagenet', 'random' or the weights file (see mark_weights)."""
    return getattr(model, "_edgekit_weights", "unknown")


def mark_weights(model: Any, used: str, source: dict[str, Any] | None = None) -> Any:
    model._edgekit_weights = used  # read back by weights_used(): manifests record what --weights auto resolved to
    model._edgekit_weights_source = source  # ported weights: publisher, file, preprocessing (weights_source())
    return model


def weights_source(model: Any) -> dict[str, Any] | None:
    """Where ported weights came from (see edgekit.models.ported.source_record); None for Keras' own or random."""
    return getattr(model, "_edgekit_weights_source", None)


def fallback_warning(model_name: str, reason: str) -> None:
    """--weights auto without ImageNet weights: one warning line, never a silent fallback."""

    console.err_console().print(
        f"warning: {model_name}: no ImageNet weights ({reason}); using random weights (--weights auto)",
        style="yellow",
        markup=False,
        soft_wrap=True,
    )


def build_hand_made(model_name: str, weights: str | Path | None, build: Callable[[], Any]) -> Any:
    """Build one of edgekit's own architectures; ImageNet weights come from their publisher (edgekit.models.ported)."""
    from edgekit.models import ported

    source = resolve_weights(weights)
    port = ported.port_for(model_name)
    if source == "imagenet" and port is None:
        raise UsageError(
            f"{model_name} has no published ImageNet weights; use --weights none or a local .weights.h5/.keras file"
        )
    model = build()
    if isinstance(source, Path):
        if source.name.endswith(CHECKPOINT_SUFFIXES):
            return mark_weights(model, str(source), ported.load_checkpoint_file(model, source, model_name))
        load_weights_file(model, source, model_name)
        return mark_weights(model, str(source))
    if source in ("imagenet", "auto") and port is not None:
        try:
            return mark_weights(model, "imagenet", ported.load_imagenet(model, model_name))
        except EdgekitError as exc:
            if source == "imagenet":
                raise
            fallback_warning(model_name, exc.message)
    elif source == "auto":
        fallback_warning(model_name, "none are published")
    return mark_weights(model, "random")


def build_keras_application(
    model_name: str,
    ctor: Callable[..., Any],
    default_size: int,
    input_size: int,
    num_classes: int,
    classifier_activation: str | None,
    weights: str | Path | None,
    post_build: Callable[[Any], None] | None = None,
    **kwargs: Any,
) -> Any:
    """Build a keras.applications model at any size/class count; weights as in resolve_weights."""
    source = resolve_weights(weights)
    try:
        model = ctor(
            include_top=True,
            weights=None,
            input_shape=(input_size, input_size, 3),
            classes=num_classes,
            classifier_activation=classifier_activation,
            **kwargs,
        )
    except ValueError as exc:
        raise UsageError(f"cannot build {model_name}: {first_line(exc)}") from exc
    if post_build is not None:
        post_build(model)
    if source in ("imagenet", "auto"):
        try:
            # The full (with-top) file only when its classifier can be used; else the smaller no-top file.
            with imagenet_download(model_name):
                reference = ctor(
                    include_top=input_size == default_size,
                    weights="imagenet",
                    input_shape=(default_size, default_size, 3),
                    **kwargs,
                )
            copy_weights(reference, model, model_name)
            del reference
        except EdgekitError as exc:  # auto: not in Keras' cache and not downloadable (or none for these options)
            if source == "imagenet":
                raise
            fallback_warning(model_name, exc.message)
            return mark_weights(model, "random")
        return mark_weights(model, "imagenet")
    if isinstance(source, Path):
        load_weights_file(model, source, model_name)
        return mark_weights(model, str(source))
    return mark_weights(model, "random")


def _weighted_layers(model: Any) -> list[Any]:
    # Normalization layers hold input statistics, which edgekit sets itself (see families/efficientnet.py).
    return [layer for layer in model.layers if layer.weights and type(layer).__name__ != "Normalization"]


def copy_weights(src: Any, dst: Any, model_name: str, max_unmatched: int = 3) -> int:
    """Copy weights layer by layer (in graph order) from src into dst, which has the same trunk.

    Layers are paired by position, not name: keras auto-names some layers (InceptionV3's 'conv2d_12'), and the
    names shift with every model built in a session. Copying stops at the first shape mismatch, which may only
    be in the classifier (a different class count or input size): at most `max_unmatched` layers stay random.
    Returns the number of layers copied.
    """
    src_layers, dst_layers = _weighted_layers(src), _weighted_layers(dst)
    copied = 0
    for a, b in zip(src_layers, dst_layers, strict=False):
        if type(a) is not type(b):
            break
        values = a.get_weights()
        if [tuple(v.shape) for v in values] != [tuple(w.shape) for w in b.weights]:
            break
        b.set_weights(values)
        copied += 1
    if len(src_layers) - copied > max_unmatched or copied == 0:
        raise EdgekitError(
            f"could not map ImageNet weights onto {model_name}: stopped at layer {copied + 1} of {len(src_layers)}"
        )
    return copied


def keras_cache_dirs() -> list[Path]:
    """Where keras.utils.get_file puts downloads: keras' home (KERAS_HOME or ~/.keras, fixed when keras is
    imported; /tmp/.keras when that is not writable) + '/models'."""
    try:
        from keras.src.backend import config  # private, but the only place holding the resolved home

        home = Path(config.keras_home())
    except (ImportError, AttributeError):
        home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return [home.expanduser() / "models", Path("/tmp/.keras/models")]


def _snapshot(dirs: list[Path]) -> dict[Path, tuple[int, int]]:
    state: dict[Path, tuple[int, int]] = {}
    for d in dirs:
        if d.is_dir():
            for f in d.iterdir():
                with contextlib.suppress(OSError):
                    st = f.stat()
                    state[f] = (st.st_size, st.st_mtime_ns)
    return state


def _remove_new_files(before: dict[Path, tuple[int, int]], dirs: list[Path]) -> None:
    for f, sig in _snapshot(dirs).items():
        if before.get(f) != sig and f.is_file():
            with contextlib.suppress(OSError):
                f.unlink()


def _is_network_error(exc: BaseException) -> bool:
    import urllib.error

    text = str(exc)
    return isinstance(exc, urllib.error.URLError | ConnectionError | TimeoutError | socket.gaierror) or (
        "URL fetch failure" in text
    )


def _network_reason(exc: BaseException) -> str:
    # keras: "URL fetch failure on <url>: None -- [Errno -2] Name or service not known"
    text = first_line(exc)
    return text.rsplit(" -- ", 1)[-1] if " -- " in text else text


@contextlib.contextmanager
def imagenet_download(model_name: str) -> Iterator[None]:
    """Run keras' own download; any failure becomes a one-line EdgekitError and leaves no partial file."""
    dirs = keras_cache_dirs()
    before = _snapshot(dirs)
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # urlretrieve has no timeout of its own: never hang forever
    try:
        # keras prints "Downloading data from ..." and a progress bar on stdout, which `--json` reserves.
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except BaseException as exc:
        _remove_new_files(before, dirs)
        if isinstance(exc, KeyboardInterrupt | SystemExit | EdgekitError):
            raise
        if _is_network_error(exc):
            raise EdgekitError(
                f"could not download ImageNet weights for {model_name}: no network ({_network_reason(exc)})",
                hint="download once on a connected machine (they are cached in ~/.keras/models) or pass a "
                "local weights file",
            ) from exc
        if isinstance(exc, ValueError) and "corrupted" not in str(exc):
            raise UsageError(f"no ImageNet weights for {model_name} with these options: {first_line(exc)}") from exc
        raise EdgekitError(f"could not load ImageNet weights for {model_name}: {first_line(exc)}") from exc
    finally:
        socket.setdefaulttimeout(old_timeout)
