"""Artifacts on disk: the model file of an export folder (<out>/<model>/<format>-<precision>/ with its
manifest.json), the files its runtime reads with it, and the export folders under a root.

What `profile`, `compare` and the board runs find; the layout itself is what exporting.pipeline writes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.errors import UsageError
from edgekit.exporting.base import ANY_BATCH_SUFFIX
from edgekit.exporting.formats import (
    format_names,
    format_of_suffix,
    formats,
    model_file_names,
    parse_export_dir,
    suffixes_text,
)


# --------------------------------------------------------------------------------------------------- artifact lookup
def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict):
        raise UsageError(f"{path}: manifest is not a JSON object")
    return manifest


def _format_of(file: Path, manifest: dict[str, Any] | None) -> str:
    if manifest and manifest.get("format"):
        return str(manifest["format"])
    return format_of_suffix(file) or ""


def _is_model_file(path: Path) -> bool:
    return format_of_suffix(path) is not None


def find_model_file(path: Path) -> tuple[Path, str, dict[str, Any] | None]:
    """(model file, format, manifest or None) for a model file or an export folder holding manifest.json."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"no such file or folder: {path}")
    if path.is_file():
        if not _is_model_file(path):
            raise UsageError(f"{path}: not a model file (expected {suffixes_text()}, or an export folder)")
        manifest_path = path.parent / "manifest.json"
        manifest = None
        if manifest_path.is_file():
            candidate = _read_manifest(manifest_path)
            listed = {Path(str(f.get("path", ""))).name for f in candidate.get("files", []) if isinstance(f, dict)}
            manifest = candidate if path.name in listed else None  # only a manifest that describes this file
        return path, _format_of(path, manifest), manifest
    manifest = _read_manifest(path / "manifest.json") if (path / "manifest.json").is_file() else None
    candidates: list[Path] = []
    if manifest:
        for entry in manifest.get("files", []):
            name = str(entry.get("path", "")) if isinstance(entry, dict) else ""
            if _is_model_file(Path(name)) and (path / name).is_file():
                candidates.append(path / name)
    if not candidates:
        candidates = [path / n for n in model_file_names() if (path / n).is_file()]
    if not candidates:
        candidates = sorted(p for p in path.iterdir() if p.is_file() and _is_model_file(p))
    if not candidates:
        raise UsageError(f"{path}: no model file ({suffixes_text()}) in this folder")
    if len(candidates) > 1 and not manifest:
        names = ", ".join(p.name for p in candidates)
        raise UsageError(f"{path}: several model files ({names}); pass one of them")
    return candidates[0], _format_of(candidates[0], manifest), manifest


def model_files(file: Path, fmt: str) -> list[Path]:
    """The files a runtime reads: the main one and its format's companions (the OpenVINO .xml comes with its .bin)."""
    row = formats().get(fmt)
    companions = (file.with_suffix(e) for e in (row.companions if row else ()))
    return [file] + [p for p in companions if p.is_file()]


def artifact_names(file: Path, fmt: str, manifest: dict[str, Any] | None) -> tuple[str, str | None]:
    """(model name, declared precision or None) from the manifest, else from an export folder name."""
    if manifest:
        precision = manifest.get("precision")
        return str(manifest.get("model") or file.parent.parent.name), str(precision) if precision else None
    parsed = parse_export_dir(file.parent.name)
    if parsed:
        return file.parent.parent.name or file.stem, parsed[1]
    stem = file.stem
    if file.name in model_file_names():
        stem = file.parent.name or stem
    return stem, None


@dataclass
class Artifact:
    path: Path  # the model file (.tflite / .onnx / .xml)
    format: str
    manifest: dict[str, Any] | None

    @property
    def precision(self) -> str | None:
        return (self.manifest or {}).get("precision")


def scan_exports(root: Path, pattern: str = "*/*/manifest.json") -> list[Artifact]:
    """Artifacts of the export folders under root (<root>/<model>/<format>-<precision>/manifest.json)."""
    found = []
    for manifest in sorted(root.glob(pattern)):
        if any(part.startswith(".") for part in manifest.relative_to(root).parts):
            continue  # an export still being written (ioutil's hidden temp folders), or one killed mid-way
        try:
            meta = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("format") not in format_names():
            continue  # e.g. the .keras folder written by `edgekit build`
        file, fmt, meta = find_model_file(manifest.parent)
        found.append(Artifact(file, fmt, meta))
    return found


def artifact_at(path: Path) -> Artifact:
    if not path.exists():
        raise UsageError(f"no such artifact or model: {path}")
    file, fmt, meta = find_model_file(path)
    return Artifact(file, fmt, meta)


def prefer_for_batch(arts: list[Artifact], batch: int, named: Sequence[Artifact] = ()) -> list[Artifact]:
    """Of an export and its --dynamic-batch twin found in a folder (onnx-int8 and onnx-int8-anybatch), the one --batch
    wants: the symbolic one above batch 1, else the batch-1 one; one without a twin, or named, stays."""
    groups: dict[tuple[str, str], list[Artifact]] = {}
    for art in arts:
        twin = art.path.parent.name.replace(ANY_BATCH_SUFFIX, "")
        groups.setdefault((str(art.path.parent.parent), twin), []).append(art)

    def other_batch(art: Artifact) -> bool:
        return ((art.manifest or {}).get("batch") == "dynamic") != (batch > 1) and art not in named

    drop = [a for group in groups.values() if len(group) > 1 for a in group if other_batch(a)]
    return [a for a in arts if a not in drop]


def prefer_for_target(arts: list[Artifact], target, named: Sequence[Artifact] = ()) -> list[Artifact]:
    """Of the artifacts of one model, format, precision and batch made with different settings (onnx-int8 and
    onnx-int8@rpi5), keep the one made for this target, else the one with the setting it wants, else all; files the
    user named stay."""
    from edgekit.exporting.targeting import recorded_key, settings_for

    groups: dict[tuple, list[Artifact]] = {}
    for art in arts:
        meta = art.manifest or {}
        any_batch = meta.get("batch") == "dynamic"  # a manifest older than --dynamic-batch: batch 1
        key = (meta.get("model"), art.format, art.precision, any_batch, str(art.path.parent.parent))
        groups.setdefault(key, []).append(art)
    keep: list[Artifact] = list(named)
    for group in groups.values():
        if len(group) == 1:
            keep += group
            continue
        made_for = [a for a in group if target.id in ((a.manifest or {}).get("targets") or ["host"])]
        wanted = settings_for(group[0].format, target, group[0].precision or "fp32") if not made_for else None
        same = [a for a in group if wanted is not None and recorded_key(a.manifest) == wanted.get("key")]
        keep += made_for[:1] or same[:1] or group
    return [a for a in arts if a in keep]


def unique_models(arts: list[Artifact], prefer: str) -> list[Artifact]:
    """Profile each distinct model file once (the edgetpu export is the int8 TFLite byte for byte)."""
    by_hash: dict[str, Artifact] = {}
    for art in sorted(arts, key=lambda a: a.format != prefer):
        files = (art.manifest or {}).get("files") or [{}]
        by_hash.setdefault(files[0].get("sha256") or str(art.path), art)
    return [a for a in arts if a in by_hash.values()]
