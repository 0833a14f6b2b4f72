"""`--weights imagenet` for ported models: download the publisher's file once, check it, convert it, cache the result.

The cache holds the converted Keras-layout arrays (an .npz, read back without pickle) under $EDGEKIT_CACHE/weights
(default ~/.cache/edgekit/weights); the publisher's file itself lives in a temporary folder that is removed whatever
happens, and the .npz appears by an atomic rename: a failed, truncated or tampered download leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import console
from edgekit.errors import EdgekitError
from edgekit.ioutil import atomic_path
from edgekit.models.ported.common import LayerWeights, Port

WEIGHTS_URL_ENV = "EDGEKIT_WEIGHTS_URL"  # replaces scheme and host of every publisher URL (a mirror; tests)
TIMEOUT_S = 60.0
CHUNK = 1 << 20
_META = "__edgekit_source__"


def cache_dir() -> Path:
    """$EDGEKIT_CACHE/weights, else ~/.cache/edgekit/weights (compare keeps its graphs beside it)."""
    env = os.environ.get("EDGEKIT_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "edgekit") / "weights"


def source_url(port: Port) -> str:
    base = os.environ.get(WEIGHTS_URL_ENV, "").strip()
    if not base:
        return port.url
    return base.rstrip("/") + urllib.parse.urlsplit(port.url).path


def cached_path(port: Port) -> Path:
    pin = port.sha256 or "unpinned"
    return cache_dir() / f"{port.model}-{port.publisher}-{port.architecture}-{pin}.npz"


def _download(url: str, dest: Path, model_name: str) -> str:
    """Stream url into dest; the SHA-256 of what arrived. One-line EdgekitErrors for every way it can fail."""
    what = f"could not download ImageNet weights for {model_name} from {url}"
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, dest.open("wb") as out:
            expected = response.headers.get("Content-Length")
            for chunk in iter(lambda: response.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
    except urllib.error.HTTPError as exc:
        raise EdgekitError(f"{what}: the server answered {exc.code} {exc.reason}") from exc
    except OSError as exc:  # URLError, refused or reset connections, timeouts, DNS failures
        reason = getattr(exc, "reason", None) or exc
        raise EdgekitError(
            f"{what}: no network ({reason})",
            hint="download the file on a connected machine and pass it with --weights FILE",
        ) from exc
    except Exception as exc:  # http.client.IncompleteRead and friends: the connection broke mid-file
        raise EdgekitError(f"{what}: the download broke off after {received} bytes ({type(exc).__name__})") from exc
    if expected is not None and expected.isdigit() and received != int(expected):
        raise EdgekitError(f"{what}: truncated download ({received} of {expected} bytes)")
    return digest.hexdigest()


def _verify(port: Port, digest: str, model_name: str) -> None:
    if port.sha256 is None:
        console.err_console().print(
            f"warning: {model_name}: {port.publisher} publishes no SHA-256 offline for {port.architecture}; "
            f"recorded the download's ({digest})",
            style="yellow",
            markup=False,
            soft_wrap=True,
        )
    elif not digest.startswith(port.sha256.lower()):
        raise EdgekitError(
            f"the download of {model_name}'s ImageNet weights does not match its pinned SHA-256 "
            f"(expected {port.sha256}..., got {digest[:16]}...): not kept"
        )


def save_weights(path: Path, weights: LayerWeights, source: dict[str, Any]) -> None:
    arrays = {f"{name}/{i}": v for name, values in weights.items() for i, v in enumerate(values)}
    arrays[_META] = np.frombuffer(json.dumps(source).encode(), np.uint8)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())


def load_weights(path: Path) -> tuple[LayerWeights, dict[str, Any]]:
    weights: LayerWeights = {}
    with np.load(path, allow_pickle=False) as data:
        source = json.loads(bytes(data[_META]).decode())
        keys = (k for k in data.files if k != _META)
        for key in sorted(keys, key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1]))):
            weights.setdefault(key.rsplit("/", 1)[0], []).append(data[key])
    return weights, source


def imagenet_weights(
    port: Port, model_name: str, convert: Callable[[Path], LayerWeights]
) -> tuple[LayerWeights, dict[str, Any]]:
    """The converted weights from the cache, else downloaded, verified, converted (convert(file)) and cached."""
    path = cached_path(port)
    if path.is_file():
        try:
            return load_weights(path)
        except (OSError, ValueError, KeyError) as exc:  # a damaged cache entry: fetch it again
            message = f"warning: {path} is damaged ({exc}); downloading again"
            console.err_console().print(message, markup=False, soft_wrap=True)
    url = source_url(port)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgekitError(f"cannot create the weights cache {path.parent}: {exc.strerror or exc}") from exc
    console.err_console().print(f"downloading {model_name}'s ImageNet weights from {url}", markup=False, soft_wrap=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=path.parent) as tmp:
        raw = Path(tmp) / port.filename
        digest = _download(url, raw, model_name)
        _verify(port, digest, model_name)
        try:
            weights = convert(raw)
        except EdgekitError as exc:  # the publisher's file itself, not the user's input: a failure, not a usage error
            raise EdgekitError(f"the downloaded weights of {model_name} are unusable: {exc.message}") from exc
        source = {
            "publisher": port.publisher,
            "architecture": port.architecture,
            "url": port.url,
            "sha256": digest,
            "sha256_pinned": port.sha256,
        }
        save_weights(path, weights, source)
    return weights, source
