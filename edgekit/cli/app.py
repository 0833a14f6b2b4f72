"""The edgekit command line: the Typer app, its commands registered from the modules beside this one, and main().

Each command parses its options, calls edgekit.api and renders a table or --json; heavy libraries load inside the
commands, so `edgekit --help` stays instant. The command modules never import this one: it registers them.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Annotated

import typer

from edgekit._version import __version__
from edgekit.cli.choose import compare, ensemble, recommend
from edgekit.cli.export import export
from edgekit.cli.hardware import emulate_setup, formats, targets
from edgekit.cli.models import build, models
from edgekit.cli.predict import fit
from edgekit.cli.profile import profile, report
from edgekit.cli.train import train
from edgekit.errors import EXIT_FAILURE, EXIT_USAGE, EdgekitError, did_you_mean

app = typer.Typer(
    name="edgekit",
    help="Build, quantize, export, verify, profile and predict image classifiers on edge devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
emulate_app = typer.Typer(help="Emulated ARM (aarch64) userland under QEMU, to run artifacts as a Raspberry Pi would.")
app.add_typer(emulate_app, name="emulate")

# Registration order is the order `edgekit --help` lists them in.
for _command in (models, build, train, export, targets, formats, profile, report, fit, compare, recommend, ensemble):
    app.command()(_command)
emulate_app.command("setup")(emulate_setup)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """edgekit: one tool that builds, quantizes, exports, verifies, profiles and predicts."""


def usage_line(exc: typer.TyperException) -> str:
    """A click/Typer usage error (bad value, unknown command or option, missing argument) as edgekit's one line."""
    text = " ".join(exc.format_message().split())  # Typer's messages may wrap; one line, whitespace collapsed
    text = text[:1].lower() + text[1:].rstrip(".")
    ctx = getattr(exc, "ctx", None)
    unknown = re.match(r"no such command '([^']*)'", text)
    if unknown and ctx is not None and hasattr(ctx.command, "list_commands"):  # edgekit's wording, as for models
        text = did_you_mean("command", unknown.group(1), ctx.command.list_commands(ctx)).message
    if exc.exit_code == EXIT_USAGE and ctx is not None:
        text += f" (see '{ctx.command_path} --help')"
    return f"error: {text}"


def main(argv: list[str] | None = None) -> None:
    """Console script: every expected error is one line and its exit code; EDGEKIT_DEBUG=1 shows tracebacks.

    Typer runs outside its standalone mode so that click's own usage errors (bad option values, unknown commands and
    options, missing arguments) come here instead of printing Typer's multi-line panel.
    """
    try:
        code = app(args=argv, prog_name="edgekit", standalone_mode=False)
    except typer.TyperException as exc:  # click's errors, as Typer vendors them (public base: TyperException)
        if type(exc).__name__ == "NoArgsIsHelpError":  # `edgekit` alone: Typer printed the help building it; exit 2
            if exc.format_message().strip():
                typer.echo(exc.format_message(), err=True)
        else:
            typer.echo(usage_line(exc), err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(EXIT_FAILURE)
    except EdgekitError as exc:
        if os.environ.get("EDGEKIT_DEBUG"):
            raise
        typer.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            typer.echo(f"hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # an unexpected bug: still one line unless debugging
        if os.environ.get("EDGEKIT_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        typer.echo(f"error: {type(exc).__name__}: {first} (set EDGEKIT_DEBUG=1 for the traceback)", err=True)
        sys.exit(EXIT_FAILURE)
    # Outside standalone mode a command that ends normally returns None and a typer.Exit returns its code.
    sys.exit(code if isinstance(code, int) else 0)
