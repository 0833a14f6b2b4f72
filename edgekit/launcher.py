"""The `edgekit` console script: the Typer command line when its extra is installed, else one line saying how.

`pip install "edgekit[device]"` on a board brings numpy and LiteRT only, yet installs this script too; without typer
and rich it must say what to do, not print a traceback. Standard library only until the check passes.
"""

from __future__ import annotations

import importlib
import sys

CLI_MODULES = ("typer", "rich")
MISSING_LINE = (
    'edgekit: the command line needs its extras: pip install "edgekit[all]" (or "edgekit[cli]" plus the extras of the '
    "formats you use); on a board use python -m edgekit.device"
)


def cli_modules_missing() -> list[str]:
    missing = []
    for name in CLI_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def main() -> None:
    if cli_modules_missing():
        sys.stderr.write(MISSING_LINE + "\n")
        sys.exit(1)
    from edgekit.cli.app import main as cli_main

    cli_main()
