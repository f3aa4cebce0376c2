"""The `signgen` command line: thin wrappers that parse, call a library function, print.

Every subcommand group lives in its own module here. Errors the user can fix
(`InputError`, a missing file) print one line on stderr and exit with code 2.
"""

from __future__ import annotations

import sys
import warnings
from typing import Optional

import typer
# typer 0.29 vendors click; its exception classes live here.
from typer._click import exceptions as click_exc
from rich.markup import escape

from .. import __version__
from ..errors import InputError
from . import pose as pose_cli
from . import prep as prep_cli
from . import render as render_cli
from . import train as train_cli
from .output import err_console


app = typer.Typer(
    name="signgen",
    help="Generate sign-language video: a signer's picture plus a motion becomes a video of that signer signing.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(pose_cli.app, name="pose")
app.add_typer(prep_cli.app, name="prep")
app.add_typer(train_cli.app, name="train")
app.command("synthesize")(render_cli.synthesize)
app.command("render")(render_cli.render)
app.command("export")(render_cli.export)
app.command("eval")(render_cli.evaluate)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"signgen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """signgen: pose-guided sign-language video generation (FPDM)."""


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A library warning (several people in a file, nobody in a picture) as one line."""
    err_console.print(f"warning: {escape(str(message))}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turn user errors into one line and exit code 2."""
    args = sys.argv[1:] if argv is None else list(argv)
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        result = app(args=args, prog_name="signgen", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except typer.Exit as e:
        code = e.exit_code
    except click_exc.NoArgsIsHelpError as e:  # a bare group: its help, as a successful call
        e.show()
        code = 0
    except click_exc.ClickException as e:  # usage errors: bad flag, missing argument
        e.show()
        code = 2
    except typer.Abort:
        err_console.print("aborted")
        code = 130
    except KeyboardInterrupt:
        err_console.print("interrupted")
        code = 130
    except InputError as e:
        err_console.print(f"[bold red]error:[/] {escape(str(e))}")  # messages hold [x, y] etc.
        code = 2
    except FileNotFoundError as e:
        err_console.print(f"[bold red]error:[/] {escape(str(e.filename))}: no such file")
        code = 2
    finally:
        warnings.showwarning = previous  # in-process callers get theirs back
    if argv is None:
        sys.exit(code)
    return code
