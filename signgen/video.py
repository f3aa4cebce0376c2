"""Writing and reading videos: frames stream through ffmpeg, never held in memory together.

Writing goes through imageio-ffmpeg's `write_frames` (the ffmpeg binary it ships), into a
temporary file beside the target that is renamed over it only once ffmpeg has finished, so
a crash, an error or Ctrl-C never leaves a half-written video. Reading uses decord (GIFs,
which decord does not open, use imageio).

Formats: `.mp4` (H.264 / libx264, yuv420p; an odd width or height gets one black
column or row at the right or bottom, since 4:2:0 needs even sizes), `.webm`
(VP9 / libvpx-vp9, yuv420p, same padding) and `.gif` (ffmpeg's own GIF encoder with a
palette computed over the whole clip by `palettegen`/`paletteuse`; GIF stores frame delays in
1/100 s, so rates like 30 fps are rounded by players).
"""

from __future__ import annotations

import math
import os
import re
import secrets
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import numpy as np

from .errors import InputError

FORMATS = (".mp4", ".webm", ".gif")
_EVEN_PAD = "pad=ceil(iw/2)*2:ceil(ih/2)*2"


class _Abort(BaseException):
    """Thrown into imageio-ffmpeg's writer to make it kill ffmpeg instead of waiting for it."""


def _ffmpeg_args(ext: str, quality: float | None) -> dict:
    """Codec options per format. `quality` 1..10 (10 best) maps to the codec's CRF."""
    if quality is not None and not 1 <= quality <= 10:
        raise InputError(f"quality must be between 1 and 10, got {quality}")
    if ext == ".mp4":
        crf = 18 if quality is None else int(round((1 - quality / 10) * 51))
        return dict(
            codec="libx264", pix_fmt_out="yuv420p",
            output_params=["-crf", str(crf), "-vf", _EVEN_PAD, "-movflags", "+faststart"],
        )
    if ext == ".webm":
        crf = 31 if quality is None else int(round((1 - quality / 10) * 63))
        return dict(
            codec="libvpx-vp9", pix_fmt_out="yuv420p",
            output_params=["-crf", str(crf), "-b:v", "0", "-deadline", "good", "-cpu-used", "4",
                           "-row-mt", "1", "-vf", _EVEN_PAD],
        )
    return dict(  # .gif: one palette for the whole clip, no dithering noise on flat areas
        codec="gif", pix_fmt_out="pal8",
        output_params=["-filter_complex", "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=bayer",
                       "-loop", "0"],
    )


def _as_rgb(frame: np.ndarray, index: int, path: Path) -> np.ndarray:
    """An [H, W, 3] uint8 C-contiguous frame; gray is expanded, floats in [0, 1] are scaled."""
    a = np.asarray(frame)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] not in (3, 4):
        raise InputError(f"frame {index} has shape {a.shape}; expected [H, W, 3] RGB", path)
    a = a[..., :3]
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating):
            a = np.clip(np.nan_to_num(a) * 255.0 + 0.5, 0, 255)
        a = np.clip(a, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def write_video(frames: Iterable[np.ndarray], path: str | Path, fps: float, *, quality: float | None = None) -> int:
    """Stream RGB frames ([H, W, 3] uint8, or floats in [0, 1]) into a video file; returns the frame count.

    The format follows the extension (see `FORMATS`). The file appears only when complete:
    on any error (including KeyboardInterrupt) ffmpeg is stopped, the temporary file is
    removed and an existing file at `path` is left untouched.
    """
    import imageio_ffmpeg

    path = Path(path)
    ext = path.suffix.lower()
    if ext not in FORMATS:
        raise InputError(f"unsupported video format {ext or '(none)'!r}; supported: {', '.join(FORMATS)}", path)
    if not path.parent.is_dir():
        raise InputError(f"output folder {str(path.parent)!r} does not exist", path)
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise InputError(f"output folder {str(path.parent)!r} is not writable (permission denied or read-only)", path)
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a finite number > 0, got {fps}", path)
    args = _ffmpeg_args(ext, quality)

    it = iter(frames)
    try:
        first = next(it)
    except StopIteration:
        raise InputError("no frames to write", path) from None
    first = _as_rgb(first, 0, path)
    h, w = first.shape[:2]

    # ffmpeg creates the temp file itself (so it gets the usual permissions); the name is
    # hidden, unique, and keeps the extension that tells ffmpeg the container.
    tmp = path.parent / f".{path.stem}.{secrets.token_hex(6)}.tmp{ext}"
    writer = None
    count = 0
    try:
        writer = imageio_ffmpeg.write_frames(
            str(tmp), (w, h), fps=float(fps), quality=None, macro_block_size=1,
            ffmpeg_log_level="error", **args,
        )
        writer.send(None)
        frame = first
        while True:
            if frame.shape[:2] != (h, w):
                raise InputError(
                    f"frame {count} is {frame.shape[1]}x{frame.shape[0]}, the first was {w}x{h}", path
                )
            writer.send(frame)
            count += 1
            try:
                frame = _as_rgb(next(it), count, path)
            except StopIteration:
                break
        writer.close()  # waits for ffmpeg to finish the file
        writer = None
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise InputError("ffmpeg did not write the video (a full disk? see its messages above)", path)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # ffmpeg gone (a full disk, a quota) or a failed rename
        _abort(writer)
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write the video ({type(e).__name__}: {' '.join(str(e).split())[:200]})", path) from None
    except BaseException:
        _abort(writer)
        tmp.unlink(missing_ok=True)
        raise
    return count


def _abort(writer) -> None:
    if writer is not None:
        try:
            writer.throw(_Abort())  # kills ffmpeg rather than letting it finish the file
        except (_Abort, Exception):
            pass


def _check_readable(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError("no such video file", path)
    return path


@contextmanager
def native_stderr_silenced() -> Iterator[TextIO]:
    """Send file descriptor 2 to /dev/null for the duration; yield a stream to the real stderr.

    Native libraries (libav inside decord, MediaPipe's C++ graph and TFLite) print log lines
    straight to fd 2, past Python; a user should see our one-line messages and the progress
    bar (write it to the yielded stream), not a screen of library diagnostics.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all: nothing to silence
        yield sys.stderr
        return
    try:
        python_on_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # e.g. a test harness capturing sys.stderr
        python_on_fd2 = False
    devnull = os.open(os.devnull, os.O_WRONLY)
    real = os.fdopen(os.dup(saved), "w", buffering=1) if python_on_fd2 else sys.stderr
    try:
        os.dup2(devnull, 2)
        yield real
    finally:
        real.flush()
        os.dup2(saved, 2)
        for fd in (saved, devnull):
            os.close(fd)
        if real is not sys.stderr:
            real.close()


def _decord_problem(error: Exception) -> str:
    """decord's error text ("[hh:mm:ss] src/file.cc:NN: Check failed: ..." and a stack trace)
    as a short reason a user can act on."""
    text = " ".join(str(error).split())
    if "cannot find video stream" in text:  # what ffmpeg leaves when no frame was written
        return "the video has no frames (no video stream)"
    if any(k in text for k in ("Check failed", "Invalid data", "ERROR opening", "Error reading", "moov atom")):
        return "not a readable video (truncated, corrupt, or not a video)"
    msg = re.sub(r"^\[[\d:]+\]\s*\S+:\d+:\s*", "", text).split(" Stack trace")[0][:200]
    return f"not a readable video ({msg or type(error).__name__})"


def open_decord(path: str | Path):
    """A decord `VideoReader` on the CPU, with ffmpeg's own log lines silenced (a bad file
    gives one InputError line, not a screen of libav messages)."""
    import decord

    decord.logging.set_level(decord.logging.QUIET)  # libav's log; decord's own goes to fd 2
    try:
        with native_stderr_silenced():
            return decord.VideoReader(str(path), ctx=decord.cpu(0))
    except Exception as e:  # decord raises DECORDError / RuntimeError on anything undecodable
        raise InputError(_decord_problem(e), path) from None


def _gif_fps(path: Path) -> float:
    import imageio.v3 as iio

    try:
        duration_ms = iio.immeta(path, index=0).get("duration") or 0
    except Exception as e:
        raise InputError(f"not a readable GIF ({e})", path) from None
    return 1000.0 / duration_ms if duration_ms > 0 else 10.0


def _rgb_rows(a: np.ndarray) -> np.ndarray:
    """Undo decord's row padding: for some small widths (16, 24, ...) it returns the padded
    row stride as extra "channels" (dmlc/decord#93, #336); the pixels are the first 3 * W bytes."""
    if a.ndim == 3 and a.shape[-1] != 3:
        h, w = a.shape[:2]
        a = np.ascontiguousarray(a.reshape(h, -1)[:, : 3 * w].reshape(h, w, 3))
    return a


def _iter_decord(vr) -> Iterator[np.ndarray]:
    for i in range(len(vr)):
        yield _rgb_rows(vr[i].asnumpy())


def _iter_gif(path: Path) -> Iterator[np.ndarray]:
    import imageio.v3 as iio

    try:
        for frame in iio.imiter(path, mode="RGB"):
            yield np.ascontiguousarray(frame)
    except OSError as e:
        raise InputError(f"not a readable GIF ({e})", path) from None


def read_video(path: str | Path) -> tuple[Iterator[np.ndarray], float]:
    """(frames, fps): an iterator of RGB uint8 [H, W, 3] frames, decoded one at a time."""
    path = _check_readable(path)
    if path.suffix.lower() == ".gif":
        fps = _gif_fps(path)
        return _iter_gif(path), fps
    vr = open_decord(path)
    return _iter_decord(vr), float(vr.get_avg_fps())


def video_info(path: str | Path) -> tuple[int, float, int, int]:
    """(num_frames, fps, width, height), without decoding the frames (GIFs excepted)."""
    path = _check_readable(path)
    if path.suffix.lower() == ".gif":
        fps = _gif_fps(path)
        n, h, w = 0, 0, 0
        for frame in _iter_gif(path):
            n += 1
            h, w = frame.shape[:2]
        return n, fps, w, h
    vr = open_decord(path)
    h, w = vr[0].shape[:2] if len(vr) else (0, 0)
    return len(vr), float(vr.get_avg_fps()), int(w), int(h)
