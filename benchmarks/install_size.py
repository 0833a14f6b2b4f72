"""What each extra of edgekit pulls onto disk: the installed size of its dependency closure, read from the metadata of
the packages installed in this environment (run it in a venv made with `pip install -e '.[all]'` or `.[test]`).

    python benchmarks/install_size.py      # writes benchmarks/results/install-size.json

The size is the sum of the files each distribution's RECORD lists (what `pip install` unpacked), so shared packages
(numpy, typer) count in every extra that needs them. Sizes do not depend on the machine's load.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_result  # noqa: E402

NAME = "install-size"
EXTRAS = ("cli", "device", "tf", "onnx", "openvino", "report", "ray", "all", "test")
_REQ = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?")


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(dist: metadata.Distribution, extras: set[str]) -> list[tuple[str, set[str]]]:
    """(name, its extras) of what `dist` requires with these extras on this platform."""
    from packaging.requirements import Requirement

    found = []
    for line in dist.requires or []:
        req = Requirement(line)
        env_ok = any(req.marker is None or req.marker.evaluate({"extra": e}) for e in (extras or {""}))
        if env_ok:
            found.append((_canon(req.name), set(req.extras)))
    return found


def closure(root: str, extras: set[str]) -> dict[str, int]:
    """{distribution: installed bytes} of `root[extras]` and everything it pulls (installed ones only)."""
    sizes: dict[str, int] = {}
    todo = [(_canon(root), extras)]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, ex = todo.pop()
        if (name, frozenset(ex)) in seen:
            continue
        seen.add((name, frozenset(ex)))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a platform-specific requirement not installed here (e.g. tflite-runtime on armv7l)
        if name not in sizes:
            sizes[name] = sum((f.size or 0) for f in dist.files or [])
        todo += _requirements(dist, ex)
    return sizes


def main() -> None:
    rows = []
    for extra in EXTRAS:
        sizes = closure("edgekit", {extra})
        biggest = sorted(sizes.items(), key=lambda kv: -kv[1])[:4]
        rows.append(
            {"extra": extra, "mb": round(sum(sizes.values()) / 1e6), "packages": len(sizes),
             "largest": [{"package": p, "mb": round(b / 1e6)} for p, b in biggest]}
        )  # fmt: skip
        print(f"edgekit[{extra}]: {rows[-1]['mb']} MB in {len(sizes)} packages", file=sys.stderr)
    write_result(NAME, {"rows": rows}, timed=False)


if __name__ == "__main__":
    main()
