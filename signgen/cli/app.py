"""`signgen app`: serve the web page (signgen.app) on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.text import Text

from ..errors import InputError
from .output import console


def app(
    model: Optional[Path] = typer.Option(None, "--model", help="Model bundle folder (default: the bundled model)."),
    port: int = typer.Option(7860, "--port", help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (127.0.0.1: this machine only)."),
    share: str = typer.Option("off", "--share", help="on: also a public gradio.live link (needs the internet); off."),
    lexicon: Optional[List[Path]] = typer.Option(None, "--lexicon", help="A lexicon folder to offer beside fingerspelling (repeatable)."),
    max_upload_mb: int = typer.Option(50, "--max-upload-mb", help="Largest upload accepted, in MB."),
    device: str = typer.Option("auto", "--device", help="auto (cuda if available, else cpu), cpu, cuda or cuda:N."),
) -> None:
    """A local web page: pick a signer picture, type a sentence (or glosses, or upload a track or a
    driving video), get the video and its .pose track. One render at a time.

    Example: signgen app --port 7860, then open http://127.0.0.1:7860
    """
    if share not in ("on", "off"):
        raise InputError(f"--share must be on or off, got {share!r}")
    if not 0 < port < 65536:
        raise InputError(f"--port must be in 1..65535, got {port}")
    if max_upload_mb < 1:
        raise InputError(f"--max-upload-mb must be >= 1, got {max_upload_mb}")
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise InputError('the web page needs gradio: pip install -e ".[app]"') from None
    from ..pose.lexicon import Lexicon
    from ..rendering.pipeline import resolve_model

    folder = resolve_model(model)  # a bad bundle fails now, not at the first click
    for lex in lexicon or []:
        Lexicon.open(lex)
    from ..app import launch

    console.print(Text(f"signgen app: model {folder}; serving http://{host}:{port} (Ctrl+C stops it)"))
    launch(folder, port=port, host=host, share=share == "on", lexicons=[str(x) for x in lexicon or []],
           max_upload_mb=max_upload_mb, device=device)
