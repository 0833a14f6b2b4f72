"""Artifacts made elsewhere (a Ray worker's scratch folder, a shared path) brought into --out in the local layout.

A job's export root holds <model>/<format>-<precision>/ folders; each is packed whole (tar, in the object store) and
swapped into --out in one step, as a local export's atomic_dir does: a half-received job leaves nothing behind.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from edgekit.ioutil import remove_stale, swap_in_dir, write_json_atomic


def artifact_folders(records: list[dict[str, Any]], root: Path) -> list[Path]:
    """The folders (relative to root) the records' artifacts live in; failed ones have none."""
    found = []
    for r in records:
        if r.get("manifest"):
            found.append(Path(r["manifest"]).parent.relative_to(root))
        elif r.get("status") == "ok" and r.get("path"):  # train's record: <root>/<model>-<data>/keras/<name>.keras
            found.append(Path(r["path"]).parent.relative_to(root))
    return list(dict.fromkeys(found))


def stamp_made_on(records: list[dict[str, Any]], root: Path, made_on: dict[str, Any]) -> None:
    """Name the node in each artifact's manifest.json (export) or the trained model's manifest."""
    for folder in artifact_folders(records, root):
        manifest = root / folder / "manifest.json"
        if manifest.is_file():
            doc = json.loads(manifest.read_text())
            doc["made_on"] = made_on
            write_json_atomic(manifest, doc)


def pack(root: Path, folders: list[Path]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for folder in folders:
            tar.add(root / folder, arcname=str(folder))
    return buf.getvalue()


def unpack(data: bytes, into: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        tar.extractall(into, filter="data")  # no absolute paths, links out or devices from a worker


def adopt(staged: Path, out: Path, folders: list[Path]) -> None:
    """Swap each staged artifact folder into out (same file system: staged lives inside out)."""
    for folder in folders:
        final = out / folder
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(final)
        swap_in_dir(staged / folder, final)


def relocate(records: list[dict[str, Any]], old: Path, new: Path) -> list[dict[str, Any]]:
    """The records with paths under old (the worker's root) pointing under new (--out) instead."""

    def move(value: Any) -> Any:
        if isinstance(value, str) and (value == str(old) or value.startswith(str(old) + os.sep)):
            return str(new) + value[len(str(old)) :]
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, list):
            return [move(v) for v in value]
        return value

    return [move(r) for r in records]


def receive(data: bytes | None, worker_root: str, shared: Path | None, out: Path, records: list[dict[str, Any]]):
    """Bring one finished job's artifacts into out; returns its records pointing there."""
    out.mkdir(parents=True, exist_ok=True)
    root = Path(worker_root)
    folders = artifact_folders(records, root)
    staging = Path(tempfile.mkdtemp(prefix=".edgekit-received-", dir=out))
    try:
        if data is not None:
            unpack(data, staging)
        else:  # a shared path: the worker wrote there; copy into out's file system first, then swap
            for folder in folders:
                shutil.copytree(root / folder, staging / folder)
        for folder in folders:  # a trained model's manifest names its own path: the worker's, now out's
            manifest = staging / folder / "manifest.json"
            if manifest.is_file() and str(root) in manifest.read_text():
                write_json_atomic(manifest, relocate([json.loads(manifest.read_text())], root, out)[0])
        adopt(staging, out, folders)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if data is None and shared is not None:
            shutil.rmtree(root, ignore_errors=True)
    return relocate(records, root, out)
