"""Gloss alignment: where each gloss of a sentence-level gloss sequence lies in its keypoint track.

PHOENIX-2014-T gives the glosses of a sentence but not their timing, and a lexicon needs one
clip per gloss. This module finds the timing from the data alone (numpy only):

1. Features per frame: elbows, wrists and four hand points of each arm, relative to the
   shoulder midpoint and in shoulder widths, so signers of any size and framing compare.
2. Flat start: each sentence's active span (frames away from the rest pose) cut into equal parts.
3. Iterative re-segmentation: every gloss gets a template (the time-normalised mean
   trajectory of its current segments); each sentence is re-cut by dynamic programming over
   segment boundaries, minimising the distance of each segment to its gloss's template
   (linearly time-warped), under min/max duration constraints. Rest frames before and after
   the signing match a rest template, and the movement into, between and out of the glosses
   may go to a short transition unit whose per-frame cost is a quantile of the gloss-frame
   costs, so poorly fitting in-between frames do not stretch a gloss. Templates are
   re-estimated each iteration.
4. Per gloss, the segment closest to its template (the medoid) is the one a lexicon keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import InputError
from .layouts import canonical as C
from .track import PoseTrack

R_SHOULDER, R_ELBOW, R_WRIST, L_SHOULDER, L_ELBOW, L_WRIST = 2, 3, 4, 5, 6, 7
_HAND_POINTS = (4, 8, 9, 20)  # thumb tip, index tip, middle mcp, pinky tip (relative to the hand)
FEATURE_POINTS = (R_ELBOW, R_WRIST, L_ELBOW, L_WRIST) + tuple(
    start + i for start in (C.RIGHT_HAND_START, C.LEFT_HAND_START) for i in _HAND_POINTS
)
REST, TRANSITION = "<rest>", "<tr>"


@dataclass(frozen=True)
class Segment:
    """Frames [start, end) of a sentence carry `gloss`."""

    gloss: str
    start: int
    end: int


@dataclass
class AlignConfig:
    """Duration limits in frames and the template resolution.

    Defaults suit 25 fps signing: a gloss lasts 2..60 frames (0.08-2.4 s), a transition
    between glosses at most 8 frames.
    """

    min_frames: int = 2
    max_frames: int = 60
    max_transition: int = 8
    template_points: int = 12
    transition_quantile: float = 0.75  # per-frame transition cost = this quantile of gloss-frame costs
    active_threshold: float = 0.2  # flat start: active where distance to rest > this x the sentence's max

    def check(self) -> None:
        if not 1 <= self.min_frames <= self.max_frames:
            raise InputError(f"need 1 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}")
        if self.max_transition < 0 or self.template_points < 2:
            raise InputError("max_transition must be >= 0 and template_points >= 2")


@dataclass
class Alignment:
    """Result of `align_corpus`: per sentence its gloss segments, plus what the model learned."""

    segments: list[list[Segment]]
    templates: dict[str, np.ndarray]
    rest: np.ndarray
    transition_cost: float
    costs: list[float] = field(default_factory=list)  # mean per-frame cost after each iteration


def arm_features(track: PoseTrack) -> np.ndarray:
    """Per-frame features [T, 24] for alignment: elbows, wrists, hand points, body-relative.

    Origin: the shoulder midpoint; unit: the clip's median shoulder width. Missing points are
    interpolated over time; a point never seen takes its wrist's value (hand points) or 0.
    """
    c = track.canonical()
    both = (c.conf[:, R_SHOULDER] > 0) & (c.conf[:, L_SHOULDER] > 0)
    if not both.any():
        raise InputError("the track never shows both shoulders; cannot align it", track.meta.get("source"))
    mid = (c.xy[:, R_SHOULDER] + c.xy[:, L_SHOULDER]) / 2
    width = np.linalg.norm(c.xy[:, R_SHOULDER] - c.xy[:, L_SHOULDER], axis=-1)
    anchor = np.median(mid[both], axis=0)
    scale = float(np.median(width[both])) or 1.0
    pts = np.asarray(FEATURE_POINTS)
    xy = (c.xy[:, pts].astype(np.float64) - anchor) / scale  # [T, P, 2]
    ok = c.conf[:, pts] > 0
    t = np.arange(c.num_frames)
    for p in range(len(pts)):
        if ok[:, p].all():
            continue
        if ok[:, p].any():
            for d in range(2):
                xy[:, p, d] = np.interp(t, t[ok[:, p]], xy[ok[:, p], p, d])
        else:
            xy[:, p] = np.nan
    # a hand never seen follows its wrist: indices 1 / 3 are the right / left wrist in FEATURE_POINTS
    wrist_of = {p: (1 if p < 4 + len(_HAND_POINTS) else 3) for p in range(4, len(pts))}
    for p, w in wrist_of.items():
        xy[:, p] = np.where(np.isnan(xy[:, p]), xy[:, w], xy[:, p])
    return np.nan_to_num(xy, nan=0.0).reshape(c.num_frames, -1)


def resample_frames(x: np.ndarray, n: int) -> np.ndarray:
    """[T, F] -> [n, F] by linear interpolation at evenly spaced times (frame centres)."""
    T = len(x)
    if T == 1:
        return np.repeat(x, n, axis=0)
    pos = (np.arange(n) + 0.5) * T / n - 0.5
    pos = np.clip(pos, 0, T - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, T - 1)
    w = (pos - lo)[:, None]
    return (1 - w) * x[lo] + w * x[hi]


def active_span(x: np.ndarray, rest: np.ndarray, threshold: float) -> tuple[int, int]:
    """[first, stop) of the frames farther from `rest` than `threshold` x the largest distance."""
    d = np.sqrt(((x - rest) ** 2).mean(axis=1))
    idx = np.flatnonzero(d > threshold * d.max()) if d.max() > 0 else np.array([], int)
    return (0, len(x)) if idx.size == 0 else (int(idx[0]), int(idx[-1]) + 1)


def uniform_segments(x: np.ndarray, glosses: Sequence[str], rest: np.ndarray | None = None,
                     threshold: float = 0.2) -> list[Segment]:
    """The flat start (and the baseline): the active span cut into equal parts, one per gloss.

    Without `rest`, the whole sentence is cut.
    """
    n, T = len(glosses), len(x)
    first, stop = (0, T) if rest is None else active_span(x, rest, threshold)
    if stop - first < n:
        first, stop = 0, T
    if T < n:
        raise InputError(f"{T} frames cannot hold {n} glosses")
    edges = np.round(np.linspace(first, stop, n + 1)).astype(int)
    return [Segment(g, int(a), int(b)) for g, a, b in zip(glosses, edges[:-1], edges[1:])]


def _rest_from_ends(features: Sequence[np.ndarray], k: int = 2) -> np.ndarray:
    ends = [np.concatenate([x[:k], x[-k:]]) for x in features]
    return np.concatenate(ends).mean(axis=0)


def _template_cost_table(x: np.ndarray, template: np.ndarray, dmin: int, dmax: int) -> np.ndarray:
    """cost[d, s] = squared distance of frames [s, s+d) to the template warped to d frames
    (inf where the segment does not fit)."""
    T = len(x)
    table = np.full((dmax + 1, T + 1), np.inf)
    for d in range(dmin, min(dmax, T) + 1):
        warped = resample_frames(template, d)  # [d, F]
        windows = sliding_window_view(x, d, axis=0)  # [T-d+1, F, d]
        table[d, : T - d + 1] = ((windows - warped.T[None]) ** 2).sum(axis=(1, 2))
    return table


def segment_sentence(x: np.ndarray, glosses: Sequence[str], templates: dict[str, np.ndarray],
                     rest: np.ndarray, transition_cost: float, config: AlignConfig) -> list[Segment]:
    """Best segmentation of one sentence [T, F] into rest, the glosses in order, rest — with an
    optional short transition before, between and after the glosses — by dynamic programming
    over segment boundaries."""
    T, n = len(x), len(glosses)
    dmin, dmax = config.min_frames, min(config.max_frames, T)
    if n * dmin > T:
        raise InputError(f"{T} frames cannot hold {n} glosses of at least {dmin} frames")
    tables = {g: _template_cost_table(x, templates[g], dmin, dmax) for g in set(glosses)}
    rest_cum = np.concatenate([[0.0], np.cumsum(((x - rest) ** 2).sum(axis=1))])
    units = [REST]
    for g in glosses:
        units += [TRANSITION, g]
    units += [TRANSITION, REST]

    D = np.full(T + 1, np.inf)
    D[0] = 0.0
    back: list[np.ndarray] = []
    e = np.arange(T + 1)
    for u in units:
        new = np.full(T + 1, np.inf)
        arg = np.zeros(T + 1, dtype=np.int64)
        if u == REST:  # any length: new[e] = cum[e] + min_{s<=e} (D[s] - cum[s])
            v = D - rest_cum
            best_s = np.zeros(T + 1, dtype=np.int64)
            run, run_s = np.inf, 0
            for i in range(T + 1):  # running argmin (T is small)
                if v[i] < run:
                    run, run_s = v[i], i
                best_s[i] = run_s
            new = rest_cum + v[best_s]
            arg = e - best_s
        elif u == TRANSITION:
            for d in range(0, config.max_transition + 1):
                cand = np.full(T + 1, np.inf)
                cand[d:] = D[: T + 1 - d] + transition_cost * d
                better = cand < new
                new[better], arg[better] = cand[better], d
        else:
            table = tables[u]
            for d in range(dmin, dmax + 1):
                cand = np.full(T + 1, np.inf)
                cand[d:] = D[: T + 1 - d] + table[d, : T + 1 - d]
                better = cand < new
                new[better], arg[better] = cand[better], d
        back.append(arg)
        D = new
    if not np.isfinite(D[T]):
        raise InputError(f"no segmentation of {T} frames into {n} glosses fits the duration limits")
    # backtrack
    segs: list[Segment] = []
    end = T
    for u, arg in zip(reversed(units), reversed(back)):
        d = int(arg[end])
        if u not in (REST, TRANSITION):
            segs.append(Segment(u, end - d, end))
        end -= d
    return segs[::-1]


def estimate_templates(features: Sequence[np.ndarray], segments: Sequence[Sequence[Segment]],
                       points: int) -> dict[str, np.ndarray]:
    """Per gloss, the mean of its segments, each resampled to `points` frames."""
    acc: dict[str, list[np.ndarray]] = {}
    for x, segs in zip(features, segments):
        for s in segs:
            acc.setdefault(s.gloss, []).append(resample_frames(x[s.start : s.end], points))
    return {g: np.mean(v, axis=0) for g, v in acc.items()}


def _rest_estimate(features: Sequence[np.ndarray], segments: Sequence[Sequence[Segment]]) -> np.ndarray | None:
    frames = [np.concatenate([x[: segs[0].start], x[segs[-1].end :]]) for x, segs in zip(features, segments) if segs]
    frames = [f for f in frames if len(f)]
    return np.concatenate(frames).mean(axis=0) if frames else None


def frame_costs(x: np.ndarray, segs: Sequence[Segment], templates: dict[str, np.ndarray]) -> np.ndarray:
    """Per-frame squared distance of each gloss frame to its (time-warped) template."""
    out = [((x[s.start : s.end] - resample_frames(templates[s.gloss], s.end - s.start)) ** 2).sum(axis=1)
           for s in segs]
    return np.concatenate(out) if out else np.zeros(0)


def align_corpus(features: Sequence[np.ndarray], glosses: Sequence[Sequence[str]], iterations: int = 5,
                 config: AlignConfig | None = None, on_sentence: Callable[[], None] | None = None,
                 workers: int = 1) -> Alignment:
    """Align every sentence's glosses to its features: flat start, then `iterations` rounds of
    template estimation and re-segmentation (0 iterations: the flat start itself).
    `on_sentence` is called after each sentence is re-segmented (for a progress bar);
    `workers` > 1 re-segments sentences in that many processes (same result)."""
    config = config or AlignConfig()
    config.check()
    if len(features) != len(glosses):
        raise InputError(f"{len(features)} feature tracks for {len(glosses)} gloss sequences")
    if iterations < 0:
        raise InputError(f"iterations must be >= 0, got {iterations}")
    if not features:
        raise InputError("nothing to align: no sentences with glosses")
    rest = _rest_from_ends(features)
    segments = [uniform_segments(x, g, rest, config.active_threshold) for x, g in zip(features, glosses)]
    tau, costs = 0.0, []
    for _ in range(iterations):
        templates = estimate_templates(features, segments, config.template_points)
        rest = _rest_estimate(features, segments)
        rest = _rest_from_ends(features) if rest is None else rest
        all_costs = np.concatenate([frame_costs(x, s, templates) for x, s in zip(features, segments)])
        tau = float(np.quantile(all_costs, config.transition_quantile)) if all_costs.size else 0.0
        segments = _segment_all(features, glosses, templates, rest, tau, config, workers, on_sentence)
        total = sum(frame_costs(x, s, templates).sum() for x, s in zip(features, segments))
        costs.append(float(total / max(1, sum(s.end - s.start for segs in segments for s in segs))))
    templates = estimate_templates(features, segments, config.template_points)
    return Alignment(segments=segments, templates=templates, rest=rest, transition_cost=tau, costs=costs)


_WORKER_DATA: tuple = ()  # (features, glosses) of a worker process, set once by its initializer


def _worker_init(features: Sequence[np.ndarray], glosses: Sequence[Sequence[str]]) -> None:
    global _WORKER_DATA
    _WORKER_DATA = (features, glosses)


def _worker_segment(indices: list[int], templates: dict[str, np.ndarray], rest: np.ndarray, tau: float,
                    config: AlignConfig) -> list[list[Segment]]:
    features, glosses = _WORKER_DATA
    return [segment_sentence(features[i], glosses[i], templates, rest, tau, config) for i in indices]


def _segment_all(features: Sequence[np.ndarray], glosses: Sequence[Sequence[str]], templates: dict[str, np.ndarray],
                 rest: np.ndarray, tau: float, config: AlignConfig, workers: int,
                 on_sentence: Callable[[], None] | None) -> list[list[Segment]]:
    """Re-segment every sentence, in worker processes when asked (the features travel to each
    worker once per call, the templates once per chunk)."""
    n = len(features)
    if workers <= 1 or n < 2 * workers:
        out = []
        for x, g in zip(features, glosses):
            out.append(segment_sentence(x, g, templates, rest, tau, config))
            if on_sentence is not None:
                on_sentence()
        return out
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    chunks = [list(range(i, n, workers * 4)) for i in range(workers * 4)]
    chunks = [c for c in chunks if c]
    result: list[list[Segment]] = [[] for _ in range(n)]
    ctx = multiprocessing.get_context("fork")  # spawn would re-run an unguarded main module
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init, initargs=(features, glosses)) as pool:
        futures = [(c, pool.submit(_worker_segment, c, templates, rest, tau, config)) for c in chunks]
        for c, fut in futures:
            for i, segs in zip(c, fut.result()):
                result[i] = segs
                if on_sentence is not None:
                    on_sentence()
    return result


def medoids(features: Sequence[np.ndarray], alignment: Alignment, points: int | None = None) -> dict[str, tuple[int, Segment, float]]:
    """Per gloss: (sentence index, segment, distance) of the segment closest to its template —
    a real performance of the sign, the most typical one."""
    best: dict[str, tuple[int, Segment, float]] = {}
    for i, (x, segs) in enumerate(zip(features, alignment.segments)):
        for s in segs:
            tmpl = alignment.templates[s.gloss]
            n = points or len(tmpl)
            d = float(((resample_frames(x[s.start : s.end], n) - resample_frames(tmpl, n)) ** 2).sum(axis=1).mean())
            if s.gloss not in best or d < best[s.gloss][2]:
                best[s.gloss] = (i, s, d)
    return best


def boundary_error(predicted: Sequence[Segment], truth: Sequence[Segment]) -> float:
    """Mean |frame difference| of the start and end of each gloss (same gloss order required)."""
    if [s.gloss for s in predicted] != [s.gloss for s in truth]:
        raise InputError("predicted and true segmentations name different glosses")
    diffs = [abs(p.start - t.start) for p, t in zip(predicted, truth)] + [abs(p.end - t.end) for p, t in zip(predicted, truth)]
    return float(np.mean(diffs)) if diffs else 0.0
