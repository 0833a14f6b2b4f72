"""The user's own models beside the zoo: a .keras file, a .tflite / .onnx / OpenVINO .xml file or an export folder,
each a compare row named by the path as given.

A .keras file is converted once (cached by content, edgekit.choose.graphs) and predicted like a zoo model; a model
file or export folder is predicted from its own graph on the runtime of its format (edgekit.costmodel.predict), or
taken from a saved result of that very file (same sha256) when one matches the table's runtime, precision and threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.errors import UsageError


@dataclass(frozen=True)
class UserModel:
    name: str  # the row's name: the path as given
    path: Path
    kind: str  # "keras" | "files" (model files of an export folder, or one model file)
    artifacts: tuple[Any, ...] = ()  # edgekit.exporting.artifacts.Artifact, for "files"


def looks_like_path(arg: str) -> bool:
    """A compare argument naming a file or folder rather than a zoo model."""
    from edgekit.exporting.formats import model_suffixes

    lower = arg.lower()
    return "/" in arg or lower.endswith(".keras") or lower.endswith(model_suffixes()) or Path(arg).exists()


def resolve_user_model(arg: str) -> UserModel:
    """The user's model behind a path; a missing or unusable one is a UsageError (before anything is built)."""
    from edgekit.exporting.artifacts import artifact_at, scan_exports

    path = Path(arg)
    if not path.exists():
        raise UsageError(f"no such model file or folder: {arg}")
    name = str(path)
    if path.is_file() and path.suffix.lower() == ".keras":
        from edgekit.safety import check_keras_file

        check_keras_file(path)  # refused before Keras reads it: Lambda bytecode, foreign modules, traversal
        return UserModel(name, path, "keras")
    if path.is_dir() and not (path / "manifest.json").is_file():
        found = scan_exports(path, "*/manifest.json")  # a model's export folder: <out>/<model>/<format>-<precision>
        if not found:
            raise UsageError(f"{arg}: no export in this folder (expected <format>-<precision>/manifest.json inside)")
        return UserModel(name, path, "files", tuple(found))
    return UserModel(name, path, "files", (artifact_at(path),))


def artifact_for(user: UserModel, formats: tuple[str, ...], precision: str) -> tuple[Any | None, str | None]:
    """(the artifact a lane runs, None) or (None, why there is none)."""
    from edgekit.analyze.graph import load_graph

    for art in user.artifacts:
        if art.format in formats and _precision(art, load_graph) == precision:
            return art, None
    have = ", ".join(f"{a.format}-{_precision(a, load_graph)}" for a in user.artifacts)
    return None, f"{user.name} holds {have}: no {'/'.join(formats)} {precision} file for this runtime"


def _precision(art: Any, load_graph: Any) -> str:
    if art.precision:
        return str(art.precision)
    return str(load_graph(art.path).precision)  # a foreign file: what its tensors say


def input_size_of(graph: Any) -> int | None:
    shape = graph.inputs[0].shape if graph.inputs else ()
    return int(shape[1]) if len(shape) == 4 else None


def saved_for_file(results: list[dict], path: Path, lane_ok: Any) -> dict[str, Any] | None:
    """A saved result of this very file (same sha256) on the lane, measured before predicted, newest first."""
    from edgekit.ioutil import sha256_file

    digest = sha256_file(path)
    matches = [
        r
        for r in results
        if (r.get("artifact") or {}).get("sha256") == digest and r.get("status") == "ok" and lane_ok(r)
        if (r.get("latency_ms") or {}).get("median")
    ]
    order = {"measured": 0, "predicted": 1}
    matches.sort(key=lambda r: (order.get(r.get("source"), 9), "~" if not r.get("date") else _neg(str(r["date"]))))
    return matches[0] if matches else None


def _neg(date: str) -> str:
    """A sort key putting newer ISO dates first."""
    return "".join(chr(255 - ord(c)) for c in date)
