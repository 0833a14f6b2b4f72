"""The README's quick start, run for real in a fresh folder and cache: each command's output and wall time.

    python benchmarks/quickstart.py      # writes benchmarks/results/quickstart.json (README's sample output)

Run it on a quiet machine: the times are what a newcomer waits (the first export builds the model, calibrates and
converts three formats; the first compare builds each model's graph once). Offline, `--weights auto` means random
weights, and the output says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_result  # noqa: E402

NAME = "quickstart"
STEPS = (
    "edgekit export mobilenetv2 --int8",
    "edgekit profile --target host",
    "edgekit profile --target rpi4",
    "edgekit compare mobilenetv2 squeezenet11 efficientnetlite0 --target rpi4 --int8",
)
MAX_LINES = 40


def run_step(command: str, cwd: Path, env: dict[str, str]) -> dict[str, object]:
    argv = [sys.executable, "-m", "edgekit", *command.split()[1:]]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    lines = (proc.stdout + proc.stderr).rstrip("\n").splitlines()
    shown = lines if len(lines) <= MAX_LINES else lines[:MAX_LINES] + [f"... ({len(lines) - MAX_LINES} more lines)"]
    print(f"{command}: exit {proc.returncode}, {wall:.1f} s", file=sys.stderr)
    return {"command": command, "exit_code": proc.returncode, "wall_s": round(wall, 1), "output": shown}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="edgekit-quickstart-") as tmp:
        env = {**os.environ, "EDGEKIT_CACHE": str(Path(tmp) / "cache"), "COLUMNS": "120", "NO_COLOR": "1"}
        work = Path(tmp) / "project"
        work.mkdir()
        steps = [run_step(c, work, env) for c in STEPS]
    if any(s["exit_code"] != 0 for s in steps):
        sys.exit(f"error: a quick-start step failed: {[s['command'] for s in steps if s['exit_code']]}")
    write_result(NAME, {"steps": steps})


if __name__ == "__main__":
    main()
