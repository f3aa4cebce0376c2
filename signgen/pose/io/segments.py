"""Gloss segments of a track (`meta["segments"]`: (gloss, start, stop) frame ranges, stop
exclusive), as stitching makes them, kept through signgen JSON and .npz files.

One check for every format: the schema's `segments` definition for the shape, then what a
schema cannot say: ranges in order, not overlapping, within the track's frames.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ...errors import InputError
from ..track import PoseTrack
from .schema import schema_error

Segment = tuple[str, int, int]


def check_segments(value: Any, num_frames: int, path: Path | None, prefix: str = "") -> list[Segment]:
    """Validated segments as a list of (gloss, start, stop); `prefix` starts error messages
    (e.g. "key 'segments', ") for formats where "segment 2" alone would not say where."""
    message = schema_error(value, "segments", ("segments",))
    if message is not None:
        raise InputError(prefix + message, path)
    out: list[Segment] = []
    for i, (gloss, start, stop) in enumerate(value):
        seg = (str(gloss), int(start), int(stop))
        if seg[2] < seg[1]:
            raise InputError(f"{prefix}segment {i} {list(seg)}: stop is before start", path)
        if out and seg[1] < out[-1][2]:
            raise InputError(
                f"{prefix}segment {i} {list(seg)} starts before segment {i - 1} ends ({out[-1][2]}); "
                "segments must be in order and must not overlap", path,
            )
        if seg[2] > num_frames:
            raise InputError(
                f"{prefix}segment {i} {list(seg)} ends after the last frame (the track has {num_frames} frames)", path
            )
        out.append(seg)
    return out


def segments_to_store(track: PoseTrack, path: Path) -> list[list] | None:
    """`track.meta["segments"]` as JSON-ready lists, or None when absent. Segments that do not
    fit the track (e.g. left over from before a resampling) are not written, with a warning:
    a writer must not produce a file its reader refuses."""
    segs = track.meta.get("segments")
    if segs is None:
        return None
    try:
        as_lists = [[s[0], int(s[1]), int(s[2])] for s in segs]
        check_segments(as_lists, track.num_frames, path)
    except (InputError, TypeError, ValueError, IndexError) as e:
        warnings.warn(f"{path}: meta['segments'] not written, they do not fit the track ({e})", stacklevel=3)
        return None
    return as_lists
