"""`python -m edgekit.device run MODEL.tflite --json`: see edgekit/device/__init__.py for the contract."""

import os
import signal
import sys
import time

from .runner import main


def _test_hooks() -> None:
    """Only when set (tests/test_measure.py): EDGEKIT_TEST_CRASH=segv kills this process with that signal and
    EDGEKIT_TEST_HANG=1 sleeps forever, both before anything loads: how the host measurement's isolation is tested."""
    crash = os.environ.get("EDGEKIT_TEST_CRASH", "").strip()
    if crash:
        os.kill(os.getpid(), getattr(signal, "SIG" + crash.upper(), signal.SIGSEGV))
    if os.environ.get("EDGEKIT_TEST_HANG", "").strip() not in ("", "0"):
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    _test_hooks()
    sys.exit(main())
