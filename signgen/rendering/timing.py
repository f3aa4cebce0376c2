"""Where a render's time goes: `timed(part)` blocks add their wall time to the active recording.

Outside `recording()` a `timed` block costs one context-variable lookup, so the parts stay
instrumented in normal use. Parts: "pose drawing", "stage 1", "unet", "scheduler",
"vae decode", "resize" (and "ffmpeg", timed by whoever writes the video). CPU only: on CUDA the
kernels run asynchronously and a part's time lands wherever the next synchronisation happens.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

_active: ContextVar[dict[str, float] | None] = ContextVar("signgen_render_timing", default=None)


@contextmanager
def recording() -> Iterator[dict[str, float]]:
    """Collect seconds per part of everything timed inside the block."""
    seconds: dict[str, float] = defaultdict(float)
    token = _active.set(seconds)
    try:
        yield seconds
    finally:
        _active.reset(token)


@contextmanager
def timed(part: str) -> Iterator[None]:
    seconds = _active.get()
    if seconds is None:
        yield
        return
    t0 = time.perf_counter()
    try:
        yield
    finally:
        seconds[part] += time.perf_counter() - t0
