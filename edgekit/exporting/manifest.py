"""manifest.json beside every artifact: what it is, how it was made, its fidelity; and the record export returns."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

from edgekit._version import __version__
from edgekit.data.labelled import preprocess_name
from edgekit.ioutil import sha256_file


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


def build_manifest(fmt, job, shared, files: list[Path], fidelity: dict[str, Any]) -> dict:
    opts, calib = shared.opts, shared.calib
    return {
        "edgekit_version": __version__,
        "status": "ok",
        "options_key": opts.key(fmt.name),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": shared.name,
        "format": fmt.name,
        "precision": job.precision,
        "batch": "dynamic" if job.dynamic_batch else 1,  # the first input dimension (--dynamic-batch)
        "files": [{"path": p.name, "bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in files],
        **fmt.io_details(files[0]),
        "preprocess": {**shared.preprocess.to_dict(), "mode": preprocess_name(shared.preprocess)},
        "build": shared.build,
        "calibration": {**calib.describe(), "used": job.precision == "int8", "batchnorm_reestimated": shared.bn_layers},
        "holdout": shared.holdout.describe(),
        "fidelity": fidelity,
        "keep_float": list(opts.keep_float),
        "layer_scopes": getattr(shared, "layer_scopes", None),  # edgekit.analyze.layernames reads it
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
        "targets": manifest.get("targets") or ["host"],
    }
    if manifest.get("target_settings"):
        rec["target_settings"] = manifest["target_settings"]
    if manifest.get("fidelity_on_target"):
        rec["fidelity_on_target"] = manifest["fidelity_on_target"]
    if manifest.get("keep_float_suggestion"):
        rec["keep_float_suggestion"] = manifest["keep_float_suggestion"]
    if manifest.get("gate", {}).get("reason"):
        rec["reason"] = manifest["gate"]["reason"]
    if "compiler" in manifest:
        rec["compiler"] = manifest["compiler"].get("status", "ok")
    if manifest.get("layer_errors"):
        rec["worst_layers"] = manifest["layer_errors"][:3] if isinstance(manifest["layer_errors"], list) else None
    return rec
