"""The wheel of this checkout, built once per test session from a copy (the shared checkout's build/ stays untouched).

No network: --no-deps --no-build-isolation uses the test environment's setuptools and wheel (the test extra).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_BUILT: dict[Path, Path] = {}


def built_wheel(directory: Path) -> Path:
    """Path of edgekit-*.whl built from a copy of the checkout's package files under directory."""
    directory = Path(directory)
    if directory in _BUILT:
        return _BUILT[directory]
    source = directory / "src"
    source.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "setup.py", "README.md", "MANIFEST.in"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("edgekit", "targets"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels = directory / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels)]
    subprocess.run([*build, str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("edgekit-*.whl")
    _BUILT[directory] = wheel
    return wheel
