"""One exception type for every expected failure; the CLI turns it into one line and an exit code."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_FIDELITY = 3


class EdgekitError(Exception):
    """An expected failure: printed as one line (plus an optional hint), never as a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.hint = hint
        self.suggestion: str | None = None


class UsageError(EdgekitError):
    """Bad input from the user: exit code 2."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message, EXIT_USAGE, hint)


class MissingExtraError(EdgekitError):
    """An optional dependency is not installed: name the extra, never install at run time."""

    def __init__(self, module: str, extra: str):
        super().__init__(
            f"{module} is not installed; install it with: pip install 'edgekit[{extra}]'",
            EXIT_FAILURE,
        )


def did_you_mean(kind: str, name: str, choices: Iterable[str], listed: bool = False) -> UsageError:
    """`unknown model 'mobilenetv3'; did you mean mobilenetv2?` as a UsageError; listed=True also names every valid
    choice, for short lists: `unknown format 'coreml' (valid: tflite, onnx, openvino, edgetpu, all)`."""
    choices = list(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    suffix = f"; did you mean {close[0]}?" if close else ""
    if listed:
        suffix += f" (valid: {', '.join(choices)})"
    error = UsageError(f"unknown {kind} '{name}'{suffix}")
    error.suggestion = close[0] if close else None  # for callers that word the suggestion themselves
    return error


def require(module: str, extra: str):
    """Import an optional heavy module or raise MissingExtraError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(module, extra) from exc
