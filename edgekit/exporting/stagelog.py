"""What each process of an export is doing now: for out-of-memory messages and for EDGEKIT_STAGE_LOG timings.

Light (standard library only): the converters, the side process and the pipeline all record their stages here.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

STAGE_ENV = "EDGEKIT_STAGE_FILE"
# where each process of an export appends "wall time, pid, CPU seconds, stage" at every stage (benchmarks read it)
STAGE_LOG_ENV = "EDGEKIT_STAGE_LOG"

_stage = ""


def stage(text: str) -> None:
    """Record what this process is doing now: for a MemoryError's message here, and for the parent's message if
    the kernel kills this process (then written to the file the parent named)."""
    global _stage
    _stage = text
    path, log = os.environ.get(STAGE_ENV), os.environ.get(STAGE_LOG_ENV)
    try:
        if path:
            Path(path).write_text(text)
        if log:  # one short O_APPEND write per line: the two processes' lines do not interleave
            with open(log, "a") as f:
                f.write(f"{time.time():.2f}\t{os.getpid()}\t{time.process_time():.1f}\t{text}\n")
    except OSError:
        pass


def current() -> str:
    """The last stage this process recorded ("" before the first)."""
    return _stage
