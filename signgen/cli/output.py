"""What every command group shares: the two rich consoles and how a typer group is built."""

from __future__ import annotations

import typer
from rich.console import Console

# soft_wrap: a message stays one line however narrow the terminal (errors must be one line).
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def layout_name(name: str | None, flag: str) -> str | None:
    """A --layout value as the registry spells it (None stays None); an unknown name is an InputError."""
    from ..errors import InputError
    from ..pose import get_layout

    if name is None:
        return None
    try:
        return get_layout(name).name
    except KeyError as e:
        raise InputError(f"{flag}: {e.args[0]}") from None


def group(help: str) -> typer.Typer:
    """A command group: help on a bare call, -h as --help, no tracebacks dressed up by typer."""
    return typer.Typer(
        help=help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
