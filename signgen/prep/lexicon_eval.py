"""How good is a learned lexicon? Measured on the synthetic release, where the truth is known.

Two figures per method (learned alignment vs. the uniform flat start; a lexicon cut at the
true boundaries is reported beside them as the floor):

- boundary error: mean |frame difference| between each training gloss's found start/end and
  its true start/end (`groundtruth/phoenix/<split>/<clip>.json`);
- DTW joint error: for each held-out TEST sentence, the track stitched from the lexicon
  (`glosses_to_track`) against the true track, both normalised to one framing (shoulder
  midpoint and width fixed in a 256x256 frame, shoulders 84.5 px apart), aligned by dynamic
  time warping (dtaidistance's C DTW); the mean distance of the arm and hand joints along the
  warping path, in px.
  The true track is cut to its signing span (first gloss start to last gloss end), since a
  stitched track has no rest pose around it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data.prepared import PreparedDataset
from ..errors import InputError
from ..pose.align import Segment, boundary_error
from ..pose.layouts import canonical as C
from ..pose.lexicon import Lexicon
from ..pose.stitch import glosses_to_track, normalise
from ..pose.track import PoseTrack

FRAME = 256  # common frame both tracks are normalised into
JOINTS = np.array(list(range(1, 8)) + list(range(C.LEFT_HAND_START, C.FACE_START)))  # neck, arms, hands


def _filled(xy: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """[T, J, 2] with each joint's missing frames interpolated from its present ones (for the
    warping path only; errors are measured on present points)."""
    out = xy.astype(np.float64, copy=True)
    t = np.arange(len(xy))
    for j in range(xy.shape[1]):
        ok = conf[:, j] > 0
        if ok.any() and not ok.all():
            for d in range(2):
                out[~ok, j, d] = np.interp(t[~ok], t[ok], xy[ok, j, d])
    return out


def dtw_path(a: np.ndarray, ca: np.ndarray, b: np.ndarray, cb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The DTW warping path (frame indices into a and b) between two joint tracks [T, J, 2], by
    dtaidistance's C DTW on the joints present in both (Euclidean distance between frames)."""
    from dtaidistance import dtw

    shared = (ca > 0).any(0) & (cb > 0).any(0)
    if not shared.any():
        raise InputError("the two tracks share no joint to align")
    fa = _filled(a[:, shared], ca[:, shared]).reshape(len(a), -1)
    fb = _filled(b[:, shared], cb[:, shared]).reshape(len(b), -1)
    path = np.asarray(dtw.warping_path_fast(fa, fb, inner_dist="euclidean"), dtype=np.int64)  # C; ndim from the shape
    return path[:, 0], path[:, 1]


def dtw_mean_error(a: np.ndarray, ca: np.ndarray, b: np.ndarray, cb: np.ndarray) -> float:
    """Mean joint distance along the DTW warping path of two joint tracks [T, J, 2] (conf [T, J]):
    per step of the path, the mean distance over the joints present in both frames."""
    i, j = dtw_path(a, ca, b, cb)
    both = (ca[i] > 0) & (cb[j] > 0)  # [L, J]
    dist = np.linalg.norm(a[i].astype(np.float64) - b[j], axis=-1)
    n = both.sum(-1)
    per_step = (dist * both).sum(-1)[n > 0] / n[n > 0]
    return float(per_step.mean()) if per_step.size else float("nan")


def _common_frame(track: PoseTrack) -> PoseTrack:
    return normalise(track.canonical(), FRAME, FRAME)


def track_error(generated: PoseTrack, truth: PoseTrack) -> float:
    """DTW mean joint error (px in the common 256x256 framing) of arms and hands."""
    g, t = _common_frame(generated), _common_frame(truth)
    return dtw_mean_error(g.xy[:, JOINTS], g.conf[:, JOINTS], t.xy[:, JOINTS], t.conf[:, JOINTS])


def truth_segments(groundtruth: Path, split: str, clip_id: str) -> list[Segment]:
    path = groundtruth / "phoenix" / split / f"{clip_id}.json"
    if not path.is_file():
        raise InputError("no ground-truth boundaries for this clip", path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [Segment(g["gloss"], int(g["start"]), int(g["end"])) for g in doc["glosses"]]


def boundary_errors(lexicon_dir: Path, groundtruth: Path, split: str = "train") -> float:
    """Mean boundary error (frames) of a learned lexicon's `alignment.json` against the truth."""
    doc = json.loads((Path(lexicon_dir) / "alignment.json").read_text(encoding="utf-8"))
    errs = [boundary_error([Segment(g, s, e) for g, s, e in segs], truth_segments(groundtruth, split, cid))
            for cid, segs in doc["segments"].items()]
    return float(np.mean(errs))


def stitched_errors(lexicon_dir: Path, prepared: PreparedDataset, groundtruth: Path | None = None,
                    split: str = "test", language: str = "gsg", transition_frames: int = 6) -> tuple[float, int]:
    """Mean DTW joint error over `split` sentences whose glosses are all in the lexicon, and their count.

    With `groundtruth`, the true track is cut to its signing span (first gloss start to last
    gloss end): a stitched track has no rest pose before and after, and the rest frames would
    otherwise dominate the figure.
    """
    lex = Lexicon.open(lexicon_dir)
    errs = []
    for clip in prepared.split(split):
        if not clip.glosses or not all(lex.has(g, language) for g in clip.glosses):
            continue
        truth = prepared.pose(clip.id)
        if groundtruth is not None:
            segs = truth_segments(groundtruth, split, clip.id)
            truth = truth.slice(segs[0].start, segs[-1].end)
        made = glosses_to_track(clip.glosses, lex, language, fps=truth.fps, width=FRAME, height=FRAME,
                                trim=False, transition_frames=transition_frames)
        errs.append(track_error(made, truth))
    if not errs:
        raise InputError(f"no {split} sentence has all its glosses in the lexicon", lexicon_dir)
    return float(np.mean(errs)), len(errs)


def evaluate_lexicon_alignment(work: str | Path, *, num_signers: int = 9, sentences_per_signer: int = 20,
                               seed: int = 0, iterations: int = 5, vocabulary_size: int = 40,
                               progress: bool = False) -> dict:
    """Synthetic release -> prepared (ground-truth keypoints) -> learned and uniform lexicons
    -> both figures for both. Reuses whatever an earlier run left in `work`."""
    from signgen.synth import write_synthetic_release

    from .lexicon import learn_lexicon
    from .phoenix import prepare_phoenix

    work = Path(work)
    release = work / "release"
    write_synthetic_release(release, num_signers=num_signers, sentences_per_signer=sentences_per_signer,
                            seed=seed, vocabulary_size=vocabulary_size, progress=progress)
    gt = release / "groundtruth"
    prep = prepare_phoenix(release / "PHOENIX-2014-T", work / "prepared", keypoints=gt / "phoenix",
                           num_pairs=0, progress=progress)
    ds = PreparedDataset.open(work / "prepared")
    result: dict = {"signers": num_signers, "sentences_per_signer": sentences_per_signer, "seed": seed,
                    "train_sentences": prep.clips.get("train", 0), "iterations": iterations}
    oracle = {c.id: truth_segments(gt, "train", c.id) for c in ds.split("train")}
    for method, its in (("uniform", 0), ("learned", iterations), ("true_boundaries", 0)):
        folder = work / f"lexicon-{method}"
        summary = learn_lexicon(work / "prepared", folder, iterations=its, progress=progress,
                                known_segments=oracle if method == "true_boundaries" else None)
        err, n = stitched_errors(folder, ds, gt)
        result[method] = {"boundary_error_frames": round(boundary_errors(folder, gt), 3),
                          "dtw_joint_error_px": round(err, 3), "glosses": summary.glosses}
        result["test_sentences"] = n
    return result
