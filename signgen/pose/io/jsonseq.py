"""signgen JSON sequences (`seq.json`): a keypoint track or a gloss sequence, validated
against the published schema (see `schema.py`) plus the checks a schema cannot express."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import InputError
from .. import skeleton
from ..track import PoseTrack
from .checks import arrays_to_track, layout_for
from .files import atomic_write_bytes, existing, parse_json, read_json_text
from .openpose import openpose_frames
from .schema import schema_check, validator, where
from .segments import check_segments, segments_to_store


@dataclass(frozen=True)
class GlossSequence:
    """Glosses to be turned into a track by a lexicon (`signgen.pose.lexicon.glosses_to_track`)."""

    glosses: tuple[str, ...]
    lexicon: str = "fingerspelling"
    language: str | None = None


_LITERALS = re.compile(r"\b(?:true|false|null)\b")


def _check_frames(frames: list, path: Path, first: int = 0) -> None:
    """Schema-check frame by frame, stopping at the first bad one (the error path of the reader)."""
    import jsonschema

    for t, frame in enumerate(frames, start=first):
        errors = list(validator("frame").iter_errors(frame))
        if errors:  # the first bad point, not jsonschema's "most relevant" one
            first_path = min(tuple(e.absolute_path) for e in errors)
            error = jsonschema.exceptions.best_match(e for e in errors if tuple(e.absolute_path) == first_path)
            raise InputError(f"{where(['frames', t, *error.absolute_path])}: {error.message}", path)


def _track_from_doc(doc: dict, path: Path, text_has_literals: bool) -> PoseTrack:
    """A validated signgen JSON track.

    The schema checks everything but the frames; numpy then checks all frames at once.
    (Schema validation costs ~10 ms per 553-point frame, too slow for long tracks, so it runs
    frame by frame only to locate an error numpy cannot name, or when the file holds
    true/false/null, which numpy would quietly turn into numbers.)
    """
    frames = doc.get("frames")
    if isinstance(frames, list) and not frames:
        raise InputError("has zero frames", path)
    header = dict(doc)
    if isinstance(frames, list):
        header["frames"] = [[[0.0, 0.0, 1.0]]]
    schema_check(header, path)
    for t, frame in enumerate(frames):
        if not isinstance(frame, list):
            _check_frames(frames[t : t + 1], path, first=t)
        if len(frame) != len(frames[0]):
            raise InputError(f"frame {t} has {len(frame)} points, frame 0 has {len(frames[0])}", path)
    try:  # no dtype given: numpy would parse "1.5" strings as numbers
        arr = np.asarray(frames)
    except (ValueError, TypeError):
        arr = None
    if arr is not None and arr.dtype.kind not in "iuf":
        arr = None
    if arr is None or arr.ndim != 3 or text_has_literals:
        _check_frames(frames, path)
    if arr is None or arr.ndim != 3:  # every frame is schema-valid, so points mix [x, y] and [x, y, conf]
        n0 = len(frames[0][0])
        for t, frame in enumerate(frames):
            for k, p in enumerate(frame):
                if len(p) != n0:
                    raise InputError(
                        f"frame {t}, point {k} has {len(p)} values, frame 0, point 0 has {n0}; "
                        "use [x, y] or [x, y, conf] throughout", path,
                    )
        raise InputError("frames are not a [frames][points][x, y(, conf)] array", path)
    arr = arr.astype(np.float64, copy=False)
    layout = layout_for(arr.shape[1], skeleton.get_layout(doc.get("layout", "canonical")).name, path)
    if not np.isfinite(arr).all():
        t, k, d = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(f"frame {t}, point {k}: {('x', 'y', 'conf')[d]} is {arr[t, k, d]} (not a finite number)", path)
    meta = {}
    if "segments" in doc:
        meta["segments"] = check_segments(doc["segments"], arr.shape[0], path)
    xy = arr[..., :2]
    conf = arr[..., 2] if arr.shape[-1] == 3 else np.ones(arr.shape[:2])
    return arrays_to_track(
        xy, conf, path, layout=layout, fps=doc["fps"], width=int(doc["width"]), height=int(doc["height"]), meta=meta,
    )


def _glosses_from_doc(doc: dict, path: Path) -> GlossSequence:
    if "frames" in doc:
        raise InputError('has both "glosses" and "frames"; a sequence is one or the other', path)
    schema_check(doc, path)
    g = doc["glosses"]
    glosses = tuple(g.split()) if isinstance(g, str) else tuple(s.strip() for s in g)
    lexicon = doc.get("lexicon", "fingerspelling")
    local = path.parent / lexicon
    if not Path(lexicon).is_absolute() and ("/" in lexicon or os.sep in lexicon or lexicon.startswith(".")):
        lexicon = str(local)  # a folder path in a file is relative to that file
    elif not Path(lexicon).is_absolute() and local.is_dir():
        lexicon = str(local)
    return GlossSequence(glosses=glosses, lexicon=lexicon, language=doc.get("language"))


def read_json(path: str | Path) -> PoseTrack | GlossSequence:
    """Read a signgen JSON sequence: a keypoint track or a gloss sequence (see seq.schema.json).

    A track's optional "segments" come back in `meta["segments"]`. A single OpenPose
    `*_keypoints.json` frame is read too, as a one-frame track.
    """
    path = existing(path)
    text = read_json_text(path)
    doc = parse_json(text, path)
    if not isinstance(doc, dict):
        schema_check(doc, path)
    if "glosses" in doc:
        return _glosses_from_doc(doc, path)
    if "people" in doc and "frames" not in doc:
        return openpose_frames([(path, doc)], path, fps=None, width=None, height=None)
    if "frames" not in doc:
        raise InputError(
            'neither a keypoint track (needs "frames") nor a gloss sequence (needs "glosses")', path
        )
    return _track_from_doc(doc, path, bool(_LITERALS.search(text)))


def _json_number(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)


def write_json_track(track: PoseTrack, path: str | Path) -> None:
    """Write the track form of seq.json (atomically), one frame per line.

    Coordinates are rounded to 0.01 px and confidences to 0.001 (a present point never rounds
    to 0); missing points are written as [0, 0, 0]. `meta["segments"]` is stored as
    "segments"; the rest of `meta` (e.g. z) is not.
    """
    conf = np.asarray(track.conf, dtype=np.float64)
    xy = np.asarray(track.xy, dtype=np.float64)
    present = (conf > 0) & np.isfinite(xy).all(axis=-1) & np.isfinite(conf)
    xy = np.where(present[..., None], np.round(xy, 2), 0.0)
    conf = np.where(present, np.maximum(np.round(conf, 3), 0.001), 0.0)
    frames = np.concatenate([xy, conf[..., None]], axis=-1) + 0.0  # +0.0 turns -0.0 into 0.0
    head = {
        "fps": _json_number(track.fps), "width": int(track.width), "height": int(track.height),
        "layout": track.layout,
    }
    segments = segments_to_store(track, Path(path))
    if segments is not None:
        head["segments"] = segments
    lines = [json.dumps(f, separators=(",", ":")) for f in frames.tolist()]
    text = json.dumps(head, ensure_ascii=False)[:-1] + ', "frames": [\n' + ",\n".join(lines) + "\n]}\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def write_gloss_sequence(seq: GlossSequence, path: str | Path) -> None:
    """Write the gloss form of seq.json (atomically)."""
    doc = {"glosses": list(seq.glosses), "lexicon": seq.lexicon, "language": seq.language}
    atomic_write_bytes(path, (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
