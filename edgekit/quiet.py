"""Silence TensorFlow's C++ and Python chatter during conversions (it would drown the one-line messages)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator


def quiet_env() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # bit-stable float reference on every run
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def quiet_tf() -> Iterator[None]:
    """Redirect fd 1/2 (C++ logs) to /dev/null unless EDGEKIT_DEBUG is set; keep Python warnings down."""
    quiet_env()
    if os.environ.get("EDGEKIT_DEBUG"):
        yield
        return
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        # Python-level prints too (Keras' "Saved artifact at ..."), even when sys.stdout is not fd 1. Python's
        # stderr is left alone: edgekit's own messages and progress bars go there (warnings are filtered below).
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
