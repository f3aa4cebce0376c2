"""The `signgen` command line: thin wrappers that parse, call a library function, print.

Every subcommand group lives in its own module here. Errors the user can fix
(`InputError`, and any OSError: a missing file, permissions, a full disk, a broken link) print
one line on stderr and exit with code 2. Anything else is a bug: one line on stderr saying
where the full traceback was saved (`crash_log`), exit code 1; never a raw traceback.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Optional

import typer
# typer 0.29 vendors click; its exception classes live here.
from typer._click import exceptions as click_exc
from rich.markup import escape

from ..base.version import __version__
from ..errors import InputError
from . import app as app_cli
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
app.command("app")(app_cli.app)


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


def _one_line(text: str) -> str:
    return " ".join(text.split())


def crash_log(error: BaseException) -> Path:
    """Write the traceback of an unexpected error to a log file; returns its path.

    The folder is SIGNGEN_LOG_DIR, else ~/.cache/signgen/logs, else the temp folder."""
    import os
    import tempfile
    import time
    import traceback

    text = "".join(traceback.format_exception(error))
    header = f"signgen {__version__}, argv {sys.argv!r}, {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    candidates = [os.environ.get("SIGNGEN_LOG_DIR"), Path.home() / ".cache" / "signgen" / "logs",
                  Path(tempfile.gettempdir()) / "signgen-logs"]
    for folder in (Path(c) for c in candidates if c):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(header + text, encoding="utf-8")
            return path
        except OSError:
            continue
    return Path("(no writable log folder)")


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
        err_console.print(f"[bold red]error:[/] {escape(_one_line(str(e)))}")  # messages hold [x, y] etc.
        code = 2
    except OSError as e:  # a file the user named: missing, unreadable, a full disk, ...
        from ..base.files import os_problem

        where = f"{e.filename}: " if e.filename else ""
        err_console.print(f"[bold red]error:[/] {escape(_one_line(where + os_problem(e)))}")
        code = 2
    except MemoryError:
        err_console.print("[bold red]error:[/] out of memory (an input too large for this machine?)")
        code = 2
    except Exception as e:  # a bug: one line here, the traceback in a log file
        log = crash_log(e)
        err_console.print(f"[bold red]internal error:[/] {escape(_one_line(f'{type(e).__name__}: {e}'))[:300]} "
                          f"(full traceback in {escape(str(log))}; please report it)")
        code = 1
    finally:
        warnings.showwarning = previous  # in-process callers get theirs back
    if argv is None:
        sys.exit(code)
    return code
