"""The one progress bar (rich, on stderr so stdout stays for results) and the progress callback.

A long job reports through a `Progress` callback, `progress(what, done, total)`, where `what`
names the counter ("steps", "frames", "clips", ...); `progress_updates` turns such calls into
one bar line per counter.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, TextIO

Progress = Callable[[str, int, int], None]
"""progress(what, done, total)."""

_LABELS = {"steps": "denoising steps", "frames": "frames", "clips": "clips"}


def progress_bar(enabled: bool = True, *, info: bool = False, stream: TextIO | None = None):
    """A rich `Progress` (description, bar, done/total, elapsed, remaining[, the task's `info`
    field]) on stderr or `stream`; disabled, it draws nothing. Use it as a context manager."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn()]
    if info:
        columns.append(TextColumn("{task.fields[info]}"))
    console = Console(stderr=True) if stream is None else Console(file=stream)
    return Bar(*columns, console=console, disable=not enabled, transient=False)


@contextmanager
def progress_updates(enabled: "bool | Progress") -> Iterator[Progress | None]:
    """A bar over whatever counters the work reports; yields the `Progress` callback, or None
    when disabled (so the work can skip reporting altogether). A callable is yielded as it is
    (a web page's own progress bar)."""
    if callable(enabled):
        yield enabled
        return
    if not enabled:
        yield None
        return
    bar = progress_bar()
    tasks: dict[str, Any] = {}

    def update(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = bar.add_task(_LABELS.get(what, what), total=total)
        bar.update(tasks[what], completed=done, total=total)

    with bar:
        yield update
