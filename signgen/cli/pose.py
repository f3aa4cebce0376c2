"""`signgen pose ...`: extract, convert, preview, and build tracks from glosses."""

from __future__ import annotations

import typer

app = typer.Typer(help="Keypoint tracks: extract, convert, preview, build from glosses.", no_args_is_help=True)
