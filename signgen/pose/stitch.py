"""Glosses -> one continuous canonical keypoint track, from a lexicon of sign clips.

Per clip: canonical layout, idle lead-in/out trimmed (wrist-above-elbow rule, as
spoken-to-signed does it), short gaps filled, signer moved to one fixed place and size
(shoulder midpoint anchored, shoulder width fixed) so clips filmed with different framing
line up, then resampled to the output fps. Between two signs the seam goes where the
hands are closest (spoken-to-signed's rule), dropping the "hands down, hands up" between
them. Clips are joined by `transition_frames` new
frames (counted at the output fps) drawn on a cubic Hermite curve per keypoint from the
last pose of one clip to the first of the next, its end tangents taken from the clips'
own velocities (clamped so the curve cannot overshoot), so both position and speed are
continuous at a seam. A light zero-phase low-pass (6 Hz) over body and hands finishes the track.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..errors import InputError
from .filters import fill_gaps, lowpass, resample
from .io.checks import check_fps, check_size
from .layouts import canonical as C
from .lexicon import Lexicon, gloss_key
from .retarget import body_frame
from .track import PoseTrack

# Where the normalised signer stands, as fractions of the output frame: the shoulder
# midpoint (neck) at (0.5 w, 0.45 h), shoulders 0.33 * min(w, h) apart. That leaves room
# for hands above the head and down to the hips, as in PHOENIX-style upper-body framing.
ANCHOR = (0.5, 0.45)
SHOULDER_WIDTH = 0.33
TRIM_MARGIN_S = 0.2  # kept around the active span (5 frames at 25 fps, like spoken-to-signed)
LOWPASS_HZ = 6.0
SEAM_WINDOW = 0.35  # fraction of a clip searched for the seam at either end

R_SHOULDER, R_ELBOW, R_WRIST = 2, 3, 4
L_SHOULDER, L_ELBOW, L_WRIST = 5, 6, 7
WRISTS = (R_WRIST, L_WRIST)


def as_gloss_list(glosses: str | Sequence[str]) -> list[str]:
    """A single string is split on whitespace ("H A L L O"); list items are kept whole."""
    items = glosses.split() if isinstance(glosses, str) else [str(g).strip() for g in glosses]
    items = [g for g in items if g]
    if not items:
        raise InputError("no glosses given")
    return items


def active_span(track: PoseTrack, margin: int) -> tuple[int, int]:
    """[first, stop) frames in which a wrist is above its elbow (either arm), +- `margin`.

    Frames where both hands hang at rest are idle lead-in/out. Only points that are present
    count (a missing wrist sits at 0,0, which would look "raised"). No active frame: the whole clip.
    """
    active = hands_up(track)
    if not active.any():
        return 0, track.num_frames
    idx = np.flatnonzero(active)
    return max(0, int(idx[0]) - margin), min(track.num_frames, int(idx[-1]) + 1 + margin)


def hands_up(track: PoseTrack) -> np.ndarray:
    """Boolean [T]: a present wrist is above its present elbow (either arm)."""
    c = track.canonical()
    active = np.zeros(c.num_frames, dtype=bool)
    for wrist, elbow in ((R_WRIST, R_ELBOW), (L_WRIST, L_ELBOW)):
        ok = (c.conf[:, wrist] > 0) & (c.conf[:, elbow] > 0)
        active |= ok & (c.xy[:, wrist, 1] < c.xy[:, elbow, 1])
    return active


def trim_idle(track: PoseTrack, margin_s: float = TRIM_MARGIN_S) -> PoseTrack:
    """The clip without its hands-down lead-in and lead-out (a margin kept either side)."""
    first, stop = active_span(track, max(0, round(margin_s * track.fps)))
    return track.slice(first, stop)


def framing(track: PoseTrack) -> tuple[np.ndarray, float]:
    """Median shoulder midpoint and shoulder width over the frames that have both shoulders."""
    c = track.canonical()
    anchors, widths = [], []
    for t in range(c.num_frames):
        try:
            anchor, width, _ = body_frame((c.xy[t], c.conf[t]))
        except InputError:  # this frame lacks a shoulder
            continue
        anchors.append(np.asarray(anchor, dtype=np.float64))
        widths.append(float(width))
    if not widths:
        raise InputError(f"clip {track.meta.get('gloss', '')!r} never shows both shoulders; cannot place it",
                         track.meta.get("source"))
    return np.median(np.stack(anchors), axis=0), float(np.median(widths))


def normalise(track: PoseTrack, width: int, height: int) -> PoseTrack:
    """Move and scale the signer so the shoulder midpoint and width are the fixed `ANCHOR`/`SHOULDER_WIDTH`."""
    anchor, sw = framing(track)
    scale = SHOULDER_WIDTH * min(width, height) / sw
    target = np.array([ANCHOR[0] * width, ANCHOR[1] * height])
    xy = (track.xy - anchor) * scale + target
    xy = np.where(track.conf[..., None] > 0, xy, 0.0)
    meta = dict(track.meta)
    meta.pop("z", None)  # depth is in the source's units; it does not survive rescaling
    return track.copy(xy=xy, width=width, height=height, meta=meta)


def prepare_clip(track: PoseTrack, fps: float, width: int, height: int, trim: bool = True) -> PoseTrack:
    """One lexicon clip made ready to join: canonical, trimmed, gaps filled, normalised, at `fps`."""
    clip = track.canonical()
    if trim:
        clip = trim_idle(clip)
    clip = normalise(fill_gaps(clip), width, height)
    if not math.isclose(clip.fps, fps):
        clip = resample(clip, fps)
    return clip


def transition(a: PoseTrack, b: PoseTrack, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` frames from the last pose of `a` to the first of `b` (xy [n, K, 2], conf [n, K]).

    Per keypoint a cubic Hermite curve whose end tangents are the clips' last/first
    velocities, each clamped to the seam's own displacement so the curve cannot overshoot.
    A point present on one side only is held there for its half and missing for the other.
    """
    K = a.num_keypoints
    if n <= 0:
        return np.zeros((0, K, 2), np.float32), np.zeros((0, K), np.float32)
    p0, p1 = a.xy[-1].astype(np.float64), b.xy[0].astype(np.float64)
    c0, c1 = a.conf[-1], b.conf[0]
    v0 = _edge_velocity(a.xy[-2:], a.conf[-2:]) if a.num_frames > 1 else np.zeros_like(p0)
    v1 = _edge_velocity(b.xy[:2], b.conf[:2]) if b.num_frames > 1 else np.zeros_like(p1)
    span = n + 1  # frames from p0 to p1
    dist = np.linalg.norm(p1 - p0, axis=-1, keepdims=True)
    m0, m1 = _clamp(v0 * span, dist), _clamp(v1 * span, dist)
    s = (np.arange(1, n + 1) / span)[:, None, None]
    h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
    h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
    curve = h00 * p0 + h10 * m0 + h01 * p1 + h11 * m1
    both, only_a, only_b = (c0 > 0) & (c1 > 0), (c0 > 0) & ~(c1 > 0), ~(c0 > 0) & (c1 > 0)
    first_half = (s[..., 0] < 0.5)  # [n, 1]
    xy = np.where(both[None, :, None], curve, 0.0)
    xy = np.where((only_a[None] & first_half)[..., None], p0, xy)
    xy = np.where((only_b[None] & ~first_half)[..., None], p1, xy)
    sc = s[..., 0]
    conf = np.where(both[None], (1 - sc) * c0 + sc * c1, 0.0)
    conf = np.where(only_a[None] & first_half, c0, conf)
    conf = np.where(only_b[None] & ~first_half, c1, conf)
    return xy.astype(np.float32), conf.astype(np.float32)


def _edge_velocity(xy: np.ndarray, conf: np.ndarray) -> np.ndarray:
    v = (xy[1] - xy[0]).astype(np.float64)
    return np.where(((conf[0] > 0) & (conf[1] > 0))[:, None], v, 0.0)


def _clamp(m: np.ndarray, limit: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(m, axis=-1, keepdims=True)
    return m * np.minimum(1.0, limit / np.maximum(norm, 1e-9))


def best_seam(a: PoseTrack, b: PoseTrack, window: float = SEAM_WINDOW) -> tuple[int, int]:
    """Where to leave `a` and enter `b`: the closest pair of frames (i in a's last `window`
    fraction, j in b's first), as spoken-to-signed chooses its seams. This drops the
    lowering of the hands at the end of one sign and the raising at the start of the next.

    Distance: mean over body and hand points present in both frames (the face barely
    moves and would drown the hands). Frames with a hand up are preferred: a pair of
    rest poses is only chosen when a window has no hands-up frame at all.
    """
    na = max(1, math.ceil(window * a.num_frames))
    nb = max(1, math.ceil(window * b.num_frames))
    ia = np.arange(a.num_frames - na, a.num_frames)
    jb = np.arange(nb)
    up_a, up_b = hands_up(a)[ia], hands_up(b)[jb]
    ia, jb = (ia[up_a] if up_a.any() else ia), (jb[up_b] if up_b.any() else jb)
    pa, pb = a.xy[ia, : C.FACE_START], b.xy[jb, : C.FACE_START]
    ca, cb = a.conf[ia, : C.FACE_START] > 0, b.conf[jb, : C.FACE_START] > 0
    d = np.linalg.norm(pa[:, None] - pb[None], axis=-1)  # [na, nb, K]
    both = ca[:, None] & cb[None]
    count = both.sum(-1)
    mean = np.where(count > 0, (d * both).sum(-1) / np.maximum(count, 1), np.inf)
    if not np.isfinite(mean).any():
        return a.num_frames - 1, 0
    i, j = np.unravel_index(np.argmin(mean), mean.shape)
    return int(ia[i]), int(jb[j])


def cut_at_seams(clips: list[PoseTrack]) -> list[PoseTrack]:
    """Each clip cut where `best_seam` leaves it and enters the next (the outer ends kept)."""
    cuts = [best_seam(clips[k], clips[k + 1]) for k in range(len(clips) - 1)]
    out = []
    for k, clip in enumerate(clips):
        start = cuts[k - 1][1] if k > 0 else 0
        stop = cuts[k][0] + 1 if k < len(cuts) else clip.num_frames
        out.append(clip.slice(start, max(stop, start + 1)))
    return out


def join(clips: list[PoseTrack], labels: list[str], gaps: list[int]) -> tuple[PoseTrack, list[tuple[str, int, int]]]:
    """Clips one after another with `gaps[i]` transition frames between clip i and i+1.

    Returns the track and each clip's own frame range (label, start, stop).
    """
    parts_xy, parts_conf, ranges, t = [], [], [], 0
    for i, clip in enumerate(clips):
        if i > 0:
            xy, conf = transition(clips[i - 1], clip, gaps[i - 1])
            parts_xy.append(xy), parts_conf.append(conf)
            t += len(xy)
        parts_xy.append(clip.xy), parts_conf.append(clip.conf)
        ranges.append((labels[i], t, t + clip.num_frames))
        t += clip.num_frames
    out = clips[0].copy(xy=np.concatenate(parts_xy), conf=np.concatenate(parts_conf), meta={})
    return out, ranges


def spell(word: str, language: str, fingerspelling: Lexicon | None = None) -> list[str]:
    """Split a word into the letters of a fingerspelling alphabet, longest match first
    (so multi-letter signs such as "SCH" win over "S"), case-insensitively."""
    lex = fingerspelling or Lexicon.open("fingerspelling")
    if language not in lex.languages():
        raise InputError(f"no fingerspelling alphabet for {language!r} (have: {', '.join(lex.languages())})")
    alphabet = {gloss_key(g): g for g in lex.glosses(language)}
    longest = max(len(k) for k in alphabet)
    key, out, i = gloss_key(word), [], 0
    while i < len(key):
        if key[i] in " -_'.":
            i += 1
            continue
        for n in range(min(longest, len(key) - i), 0, -1):
            if key[i : i + n] in alphabet:
                out.append(alphabet[key[i : i + n]])
                i += n
                break
        else:
            raise InputError(f"cannot fingerspell {word!r} in {language}: no sign for {key[i]!r}")
    if not out:
        raise InputError(f"cannot fingerspell {word!r}: no letters")
    return out


def _with_spelling_hint(error: InputError, gloss: str, language: str, fs_lex: Lexicon) -> InputError:
    """The unknown-gloss error, plus the way out when the word can be fingerspelled."""
    try:
        letters = spell(gloss, language, fs_lex)
    except InputError:
        return error
    message = str(error)[len(error.path) + 2 :] if error.path else str(error)
    return InputError(
        f"{message}; --fingerspell-unknown (fingerspell_unknown=True) spells it as {'-'.join(letters)}", error.path
    )


def glosses_to_track(
    glosses: str | Sequence[str],
    lexicon: str | Lexicon,
    language: str | None,
    fps: float = 25.0,
    *,
    transition_frames: int = 6,
    fingerspell_unknown: bool = False,
    width: int = 512,
    height: int = 512,
    trim: bool = True,
) -> PoseTrack:
    """One continuous canonical track signing `glosses`, from `lexicon` clips.

    `transition_frames` is counted in output frames (at `fps`) between two glosses; letters
    of a fingerspelled word are joined with half as many (at least 2). Unknown glosses raise
    an `InputError` listing close matches, unless `fingerspell_unknown` spells them from the
    built-in fingerspelling lexicon. `meta["segments"]` holds (gloss, start, stop) frame
    ranges that tile the track in order (a transition is split at its middle);
    `meta["clips"]` holds the lexicon clips' own ranges (letters for spelled words).
    `trim=False` keeps every clip whole: no idle trimming, no seam search.
    """
    fps = check_fps(fps)
    width, height = check_size(width, "width"), check_size(height, "height")
    if transition_frames < 0:
        raise InputError(f"transition_frames must be >= 0, got {transition_frames}")
    items = as_gloss_list(glosses)
    lex = lexicon if isinstance(lexicon, Lexicon) else Lexicon.open(lexicon)
    if language is None and len(lex.languages()) == 1:
        language = lex.languages()[0]
    if language is not None and language not in lex.languages():
        raise InputError(f"language {language!r} is not in lexicon {lex.name} (has: {', '.join(lex.languages())})")
    fs_lex: Lexicon | None = None
    letter_gap = max(2, transition_frames // 2) if transition_frames else 0

    clips, labels, owner, gaps = [], [], [], []
    for gi, gloss in enumerate(items):
        try:
            parts = [(gloss, lex.lookup(gloss, language))]  # unknown: raises with close matches
        except InputError as e:
            if language is None or lex.has(gloss, language):
                raise  # not an unknown gloss (ambiguous language, missing file, ...)
            fs_lex = fs_lex or (lex if lex.name in ("fingerspelling", "fs") else Lexicon.open("fingerspelling"))
            if not fingerspell_unknown:
                raise _with_spelling_hint(e, gloss, language, fs_lex) from None
            parts = [(ch, fs_lex.lookup(ch, language)) for ch in spell(gloss, language, fs_lex)]
        for pi, (label, raw) in enumerate(parts):
            if clips:
                gaps.append(letter_gap if pi > 0 else transition_frames)
            clips.append(prepare_clip(raw, fps, width, height, trim=trim))
            labels.append(label)
            owner.append(gi)

    if trim:
        clips = cut_at_seams(clips)
    track, ranges = join(clips, labels, gaps)
    smoothed = lowpass(track, cutoff_hz=LOWPASS_HZ, order=4)  # a no-op when fps / 2 <= 6 Hz
    # body and hands only: the face has no seam jitter, and filtering would dampen mouthing
    smoothed.xy[:, C.FACE_START :] = track.xy[:, C.FACE_START :]
    track = smoothed
    track.meta.update(
        segments=_segments(items, owner, ranges, track.num_frames),
        clips=ranges,
        glosses=items,
        language=language,
        lexicon=lex.name,
        transition_frames=transition_frames,
    )
    return track


def _segments(items: list[str], owner: list[int], ranges: list[tuple[str, int, int]], total: int) -> list[tuple[str, int, int]]:
    """Gloss ranges tiling [0, total): each boundary in the middle of the transition between glosses."""
    starts = [0]
    for i in range(1, len(ranges)):
        if owner[i] != owner[i - 1]:
            prev_stop, start = ranges[i - 1][2], ranges[i][1]
            starts.append(prev_stop + (start - prev_stop) // 2)
    stops = starts[1:] + [total]
    return [(items[g], s, e) for g, s, e in zip(sorted(set(owner)), starts, stops)]


def wrist_steps(track: PoseTrack) -> np.ndarray:
    """Per-frame wrist displacement [T-1], in shoulder widths (the larger of the two wrists;
    NaN where neither wrist is present in both frames). Comparable across framings."""
    c = track.canonical()
    sw = np.linalg.norm(c.xy[:, R_SHOULDER] - c.xy[:, L_SHOULDER], axis=-1)
    ok_sw = (c.conf[:, R_SHOULDER] > 0) & (c.conf[:, L_SHOULDER] > 0)
    scale = float(np.median(sw[ok_sw])) if ok_sw.any() else 1.0
    steps = np.full((len(WRISTS), max(0, c.num_frames - 1)), np.nan)
    for j, w in enumerate(WRISTS):
        ok = (c.conf[1:, w] > 0) & (c.conf[:-1, w] > 0)
        d = np.linalg.norm(c.xy[1:, w] - c.xy[:-1, w], axis=-1) / scale
        steps[j] = np.where(ok, d, np.nan)
    return np.fmax(steps[0], steps[1])  # fmax ignores a NaN on one side
