"""Write a synthetic release laid out like the real ones, plus the ground truth they lack.

Out of one seed come signers (identities), a gloss vocabulary and sentences, rendered as

- `PHOENIX-2014-T/`: corpus CSVs and 25 fps PNG frame folders exactly where the real
  RWTH-PHOENIX-Weather 2014T release puts them, split train/dev/test by signer and sentence;
- `fashion/`: DeepFashion In-shop style full-body images with the PATN/PIDM pair lists and
  OpenPose-18 annotation files (`fasion-resize-*.csv`, spelled as released);
- `groundtruth/`: per-clip canonical keypoints (.npz), per-sentence gloss boundaries (JSON),
  per-signer identity parameters, the vocabulary — so data preparation and metrics can be
  checked against exact answers.

Besides the procedural-vocabulary sentences, each signer can get fingerspelled clips: real
recorded letters (the built-in lexicon) retargeted onto that signer, one gloss per letter.

Every file is written atomically and a rerun skips finished clips and images, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import calendar
import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base.files import atomic_write_bytes
from ..base.images import encode_image
from ..base.progress import progress_bar
from ..base.seeds import derive_seed
from ..errors import InputError
from ..pose import skeleton
from ..pose.io.files import load_json
from . import motion
from .body import body_geometry, compose_pose
from .identity import Identity
from .labels import handshape_labels, letter_labels
from .painter import paint_signer
from .spelling import LANGUAGES as SPELLING_LANGUAGES
from .spelling import SpelledClip, pick_letters, spell_onto
from .vocabulary import LOCATIONS, Vocabulary

PHOENIX_DIR = "PHOENIX-2014-T"
FASHION_DIR = "fashion"
GT_DIR = "groundtruth"
CORPUS_HEADER = "name|video|start|end|speaker|orth|translation"
ANNOTATION_HEADER = "name:keypoints_y:keypoints_x"
SPLITS = ("train", "dev", "test")
FPS = 25
_VIEWS = ("1front", "4full", "5additional", "7additional")
_CATEGORIES = ("Tees_Tanks", "Blouses_Shirts", "Sweaters", "Jackets_Coats", "Dresses", "Shirts_Polos")
_SHOWS = ("tagesschau", "heute")
# Tags that keep the seed streams of different things apart.
_SIGNER, _SENTENCE, _NAME, _FASHION, _SPLIT_SENTENCES, _SPELLING = 1, 2, 3, 4, 5, 6


def _child_seed(*key: int) -> int:
    return derive_seed(*key) & 0xFFFFFFFF  # 32 bits: the seeds the released worlds were made with


@dataclass(frozen=True)
class Clip:
    name: str
    split: str
    signer: str
    signer_index: int
    glosses: tuple[str, ...]
    motion: str = "vocabulary"  # or "fingerspelling"
    language: str | None = None  # sign language of a fingerspelled clip


def split_signers(num_signers: int) -> dict[str, list[int]]:
    """Signer indices per split: dev and test signers never sign in train. With two signers
    the second one provides dev and test (different sentences)."""
    if num_signers < 2:
        raise InputError(f"need at least 2 signers to split train from dev/test by signer, got {num_signers}")
    if num_signers == 2:
        return {"train": [0], "dev": [1], "test": [1]}
    n_held = max(1, int(round(0.12 * num_signers)))
    test = list(range(num_signers - n_held, num_signers))
    dev = list(range(num_signers - 2 * n_held, num_signers - n_held))
    return {"train": list(range(0, num_signers - 2 * n_held)), "dev": dev, "test": test}


def _clip_name(seed: int, k: int) -> str:
    """A PHOENIX-style name: <day><Month>_<year>_<Weekday>_<show>-<number>."""
    rng = np.random.default_rng(_child_seed(seed, _NAME, k))
    day = dt.date(2009, 7, 1) + dt.timedelta(days=int(rng.integers(0, 900)))
    show = _SHOWS[int(rng.integers(len(_SHOWS)))]
    return (f"{day.day:02d}{calendar.month_name[day.month]}_{day.year}_"
            f"{calendar.day_name[day.weekday()]}_{show}-{1000 + k}")


def plan_clips(num_signers: int, sentences_per_signer: int, seed: int, vocabulary: Vocabulary,
               min_glosses: int = 2, max_glosses: int = 5) -> list[Clip]:
    """Every sentence clip of the release, deterministic from the seed. A gloss sequence used
    in train is never reused in dev or test."""
    if sentences_per_signer < 1:
        raise InputError(f"sentences per signer must be >= 1, got {sentences_per_signer}")
    splits = split_signers(num_signers)
    clips: list[Clip] = []
    train_sentences: set[tuple[str, ...]] = set()
    k = 0
    for split in SPLITS:
        for s in splits[split]:
            rng = np.random.default_rng(_child_seed(seed, _SENTENCE, s, SPLITS.index(split)))
            n = sentences_per_signer
            if num_signers == 2 and split != "train":  # one held-out signer shares dev and test
                n = max(1, (sentences_per_signer + (split == "dev")) // 2)
            for _ in range(n):
                for _attempt in range(100):
                    gl = vocabulary.sample_glosses(rng, min_glosses, max_glosses)
                    if split == "train" or gl not in train_sentences:
                        break
                else:
                    raise InputError("vocabulary too small to keep dev/test sentences out of train")
                if split == "train":
                    train_sentences.add(gl)
                clips.append(Clip(_clip_name(seed, k), split, f"Signer{s + 1:02d}", s, gl))
                k += 1
    return clips


def plan_fingerspelling(num_signers: int, per_signer: int, seed: int, first_index: int,
                        lexicon, keep_out: frozenset[tuple[str, tuple[str, ...]]] = frozenset()) -> list[Clip]:
    """`per_signer` fingerspelled clips per signer (same split-by-signer rule as the sentences),
    each a word or random letters in a seeded choice of `SPELLING_LANGUAGES`. Numbered from
    `first_index` so names never collide with the sentences'. A (language, letters) pair used
    in train is not reused in dev or test, and train never spells a pair in `keep_out` (another
    release's held-out words, see `held_out_words`; empty keeps the plan as it was)."""
    if per_signer < 0:
        raise InputError(f"fingerspelling clips per signer must be >= 0, got {per_signer}")
    splits = split_signers(num_signers)
    clips: list[Clip] = []
    train_words: set[tuple[str, tuple[str, ...]]] = set()
    k = first_index
    for split in SPLITS:
        for s in splits[split]:
            rng = np.random.default_rng(_child_seed(seed, _SPELLING, s, SPLITS.index(split)))
            n = per_signer
            if num_signers == 2 and split != "train":  # one held-out signer shares dev and test
                n = (per_signer + (split == "dev")) // 2
            for _ in range(n):
                for _attempt in range(100):
                    lang = str(rng.choice(SPELLING_LANGUAGES))
                    letters = pick_letters(rng, lang, lexicon)
                    if (lang, letters) not in (keep_out if split == "train" else train_words):
                        break
                if split == "train":
                    train_words.add((lang, letters))
                clips.append(Clip(_clip_name(seed, k), split, f"Signer{s + 1:02d}", s, letters,
                                  motion="fingerspelling", language=lang))
                k += 1
    return clips


def held_out_words(release: str | Path) -> frozenset[tuple[str, tuple[str, ...]]]:
    """The (language, letters) of every fingerspelled dev and test clip of another synthetic
    release: pass them as `keep_out` to a release trained on beside it, so that release's
    held-out words stay unseen (letters come from one shared lexicon in every world, while
    sentences use each seed's own vocabulary, so only spelled words can repeat across worlds)."""
    root = Path(release)
    gt_dir = root / GT_DIR / "phoenix"
    if not (root / GT_DIR / "release.json").is_file():
        raise InputError("is not a synthetic release (no groundtruth/release.json)", root)
    words = set()
    for split in ("dev", "test"):
        for path in sorted((gt_dir / split).glob("*.json")):
            if path.name.endswith(".labels.json"):
                continue
            doc = load_json(path, inside=root)
            if not isinstance(doc, dict) or doc.get("motion") != "fingerspelling":
                continue
            glosses, lang = doc.get("glosses"), doc.get("language")
            if not isinstance(lang, str) or not isinstance(glosses, list) or \
                    not all(isinstance(g, dict) and isinstance(g.get("gloss"), str) for g in glosses):
                raise InputError("a fingerspelled clip needs a language and glosses with a 'gloss' each", path)
            words.add((lang, tuple(g["gloss"] for g in glosses)))
    return frozenset(words)


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _write_if_changed(path: Path, text: str) -> None:
    """Atomic write, skipped when the file already holds exactly this text (keeps mtimes)."""
    data = text.encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)


def _json(obj) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


def _write_clip(root: Path, clip: Clip, identity: Identity, vocab: Vocabulary, size: tuple[int, int],
                lexicon=None, tag_motion: bool = False) -> bool:
    """Render one clip (a sentence, or a fingerspelled word when `clip.motion` says so);
    returns False when it was already complete. `tag_motion` adds the motion kind to the JSON
    (only releases with fingerspelling have it, so older releases stay byte-identical)."""
    w, h = size
    gt_dir = root / GT_DIR / "phoenix" / clip.split
    gt_json = gt_dir / f"{clip.name}.json"
    labels_json = gt_dir / f"{clip.name}.labels.json"
    frame_dir = root / PHOENIX_DIR / "features" / f"fullFrame-{w}x{h}px" / clip.split / clip.name
    complete = False
    if gt_json.exists():
        try:
            n = json.loads(gt_json.read_text(encoding="utf-8"))["num_frames"]
            complete = (frame_dir / f"images{n:04d}.png").exists() and (gt_dir / f"{clip.name}.npz").exists()
        except (ValueError, KeyError):
            pass  # a damaged marker: redo the clip
    if complete and labels_json.exists():
        return False
    if clip.motion == "fingerspelling":
        sentence: SpelledClip = spell_onto(identity, clip.glosses, str(clip.language), width=w, height=h,
                                           fps=FPS, lexicon=lexicon)
        track = sentence.track
    else:
        body = body_geometry(identity, "upper", w, h)
        sentence = vocab.sentence(clip.glosses, body)
        track = sentence.track(body, fps=FPS)
    if clip.motion == "fingerspelling":
        labels = {"kind": "letter", **letter_labels(sentence.segments, track.xy, track.conf)}
    else:
        labels = {"kind": "handshape", **handshape_labels(sentence.controls, sentence.segments)}
    # labels are cheap and deterministic: a release made before they existed gets them on a rerun
    _write_if_changed(labels_json, _json({"name": clip.name, **labels}))
    if complete:
        return False
    frame_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    for t in range(track.num_frames):
        atomic_write_bytes(frame_dir / f"images{t + 1:04d}.png",
                           encode_image(paint_signer(identity, track.xy[t], track.conf[t], w, h)))
    atomic_write_bytes(gt_dir / f"{clip.name}.npz",
                       _npz(xy=track.xy, conf=track.conf, fps=np.float32(FPS), width=np.int32(w),
                            height=np.int32(h), layout=np.str_("canonical")))
    # written last: its presence marks the clip complete
    doc = {
        "name": clip.name, "split": clip.split, "speaker": clip.signer, "identity_seed": identity.seed,
        "orth": " ".join(clip.glosses), "num_frames": track.num_frames, "fps": FPS,
        "glosses": sentence.gloss_spans(),
        "segments": [{"label": lab, "start": a, "end": b} for lab, a, b in sentence.segments],
    }
    if tag_motion:
        doc["motion"] = clip.motion
        if clip.language is not None:
            doc["language"] = clip.language
    atomic_write_bytes(gt_json, _json(doc).encode("utf-8"))
    return True


def fashion_pose(identity: Identity, k: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pose `k` of a full-body fashion shot: 0 is the neutral stance, the others vary the
    arms (from the signing-space places) and how far apart the feet are."""
    w, h = size
    if k == 0:
        body = body_geometry(identity, "full", w, h)
        return compose_pose(body, body.rest_arm(0), body.rest_arm(1))
    rng = np.random.default_rng(_child_seed(identity.seed, _FASHION, k))
    body = body_geometry(identity, "full", w, h, stance=float(rng.uniform(0.0, 1.2)))
    arms = []
    for side in (0, 1):
        if rng.random() < 0.4:
            arms.append(body.rest_arm(side))
            continue
        lat, vert, depth = LOCATIONS[str(rng.choice(list(LOCATIONS)))]
        ctrl = motion.arm_control(lat + rng.normal(0, 0.1), vert + rng.normal(0, 0.2), depth,
                                  bend=float(rng.uniform(-30, 30)), palm=float(rng.choice([1.0, -1.0])),
                                  shape=str(rng.choice(["flat", "fist", "open", "C"])))
        arms.append(motion.arm_state(body, side, ctrl))
    return compose_pose(body, arms[0], arms[1])


def _fashion_name(identity: Identity, signer_index: int, k: int) -> str:
    rng = np.random.default_rng(_child_seed(identity.seed, _FASHION, 0))
    gender = "WOMEN" if rng.random() < 0.5 else "MEN"
    cat = _CATEGORIES[int(rng.integers(len(_CATEGORIES)))]
    view = _VIEWS[k] if k < len(_VIEWS) else f"{k + 1}additional"
    return f"fashion{gender}{cat}id{signer_index + 1:08d}01_{view}.png"


def openpose18_line(name: str, xy: np.ndarray, conf: np.ndarray, width: int, height: int) -> str:
    """One annotation row as the PATN/PIDM files have it: `name: [y, ...]: [x, ...]`, integer
    pixels, -1 for a point that is missing or outside the image."""
    oxy, oconf = skeleton.convert(xy[None], conf[None], "canonical", "openpose18")
    oxy, oconf = oxy[0], oconf[0]
    ys, xs = [], []
    for (x, y), c in zip(oxy, oconf):
        inside = c > 0 and 0 <= x < width and 0 <= y < height
        ys.append(int(round(float(y))) if inside else -1)
        xs.append(int(round(float(x))) if inside else -1)
    return f"{name}: {ys}: {xs}"


def _translation(clip: Clip) -> str:
    """The CSV's spoken-language column: the gloss words in lower case; a spelled word whole."""
    if clip.motion == "fingerspelling":
        return "".join(clip.glosses).lower()
    return " ".join(g.lower() for g in clip.glosses)


def write_synthetic_release(
    out_dir: str | Path,
    *,
    num_signers: int = 9,
    sentences_per_signer: int = 20,
    seed: int = 0,
    phoenix_size: tuple[int, int] = (210, 260),
    fashion_size: tuple[int, int] = (176, 256),
    fashion_poses: int = 4,
    vocabulary_size: int = 40,
    min_glosses: int = 2,
    max_glosses: int = 5,
    fingerspelling_per_signer: int = 0,
    keep_out: frozenset[tuple[str, tuple[str, ...]]] = frozenset(),
    progress: bool = True,
) -> dict:
    """Write (or finish) a synthetic PHOENIX-2014-T + DeepFashion release with ground truth
    under `out_dir`; returns counts. Sizes are (width, height). Rerunning with the same
    arguments skips finished work; other arguments on an existing release are refused.
    `fingerspelling_per_signer` adds that many clips per signer of real fingerspelled words
    (see `signgen.synth.spelling`); 0 writes exactly what releases without it had. `keep_out`:
    (language, letters) pairs train never spells (`held_out_words` of a release evaluated on)."""
    root = Path(out_dir)
    if fashion_poses < 2:
        raise InputError(f"fashion poses per person must be >= 2 (pairs need two), got {fashion_poses}")
    if not 1 <= min_glosses <= max_glosses:
        raise InputError(f"need 1 <= min_glosses <= max_glosses, got {min_glosses}, {max_glosses}")
    for label, (w, h) in (("phoenix", phoenix_size), ("fashion", fashion_size)):
        if w < 32 or h < 32:
            raise InputError(f"{label} size {w}x{h} is too small (min 32x32)")
    params = {"num_signers": num_signers, "sentences_per_signer": sentences_per_signer, "seed": seed,
              "phoenix_size": list(phoenix_size), "fashion_size": list(fashion_size),
              "fashion_poses": fashion_poses, "vocabulary_size": vocabulary_size,
              "min_glosses": min_glosses, "max_glosses": max_glosses, "fps": FPS}
    if fingerspelling_per_signer < 0:
        raise InputError(f"fingerspelling clips per signer must be >= 0, got {fingerspelling_per_signer}")
    if fingerspelling_per_signer:  # absent means 0, so releases made before the option still match
        params["fingerspelling_per_signer"] = fingerspelling_per_signer
    if keep_out:  # likewise: absent means none
        params["keep_out"] = sorted([lang, list(letters)] for lang, letters in keep_out)
    release_json = root / GT_DIR / "release.json"
    if release_json.exists():
        try:
            old = json.loads(release_json.read_text(encoding="utf-8"))
        except ValueError:
            old = None
        if old is not None and old != params:
            diff = sorted(k for k in set(params) | set(old) if old.get(k) != params.get(k))
            raise InputError(f"holds a synthetic release made with other settings ({', '.join(diff)}); "
                             "use another folder", root)
    root.mkdir(parents=True, exist_ok=True)
    _write_if_changed(release_json, _json(params))

    vocab = Vocabulary.sample(seed, size=vocabulary_size)
    identities = [Identity.sample(_child_seed(seed, _SIGNER, i)) for i in range(num_signers)]
    splits = split_signers(num_signers)
    clips = plan_clips(num_signers, sentences_per_signer, seed, vocab, min_glosses, max_glosses)
    lexicon = None
    if fingerspelling_per_signer:
        from ..pose.lexicon import Lexicon

        lexicon = Lexicon.open("fingerspelling")
        clips += plan_fingerspelling(num_signers, fingerspelling_per_signer, seed, len(clips), lexicon,
                                      frozenset(keep_out))
    _write_if_changed(root / GT_DIR / "vocabulary.json", _json(vocab.to_dict()))
    for i, ident in enumerate(identities):
        member = [s for s in SPLITS if i in splits[s]]
        _write_if_changed(root / GT_DIR / "identities" / f"Signer{i + 1:02d}.json",
                          _json({"signer": f"Signer{i + 1:02d}", "splits": member, **ident.to_dict()}))

    fashion_items = [(i, k) for i in range(num_signers) for k in range(fashion_poses)]
    rendered = skipped = 0
    with progress_bar(progress) as bar:
        task = bar.add_task("synthetic release", total=len(clips) + len(fashion_items)) if bar else None
        for clip in clips:
            done = _write_clip(root, clip, identities[clip.signer_index], vocab, phoenix_size, lexicon,
                               tag_motion=bool(fingerspelling_per_signer))
            rendered, skipped = rendered + done, skipped + (not done)
            if bar:
                bar.advance(task)
        fw, fh = fashion_size
        img_dir, gt_fashion = root / FASHION_DIR / "img", root / GT_DIR / "fashion"
        img_dir.mkdir(parents=True, exist_ok=True)
        gt_fashion.mkdir(parents=True, exist_ok=True)
        annotations: dict[str, list[str]] = {"train": [], "test": []}
        names: dict[str, list[list[str]]] = {"train": [], "test": []}
        for i, ident in enumerate(identities):
            fsplit = "train" if i in splits["train"] else "test"
            names[fsplit].append([])
            for k in range(fashion_poses):
                name = _fashion_name(ident, i, k)
                xy, conf = fashion_pose(ident, k, fashion_size)
                names[fsplit][-1].append(name)
                annotations[fsplit].append(openpose18_line(name, xy, conf, fw, fh))
                img_path, gt_path = img_dir / name, gt_fashion / (Path(name).stem + ".npz")
                if img_path.exists() and gt_path.exists():
                    skipped += 1
                else:
                    atomic_write_bytes(img_path, encode_image(paint_signer(ident, xy, conf, fw, fh)))
                    atomic_write_bytes(gt_path, _npz(xy=xy, conf=conf, width=np.int32(fw), height=np.int32(fh),
                                                     layout=np.str_("canonical")))
                    rendered += 1
                if bar:
                    bar.advance(task)

    # index files last: cheap, deterministic, rewritten only when their content changes
    corpus_dir = root / PHOENIX_DIR / "annotations" / "manual"
    for split in SPLITS:
        rows = [CORPUS_HEADER] + [
            f"{c.name}|{c.name}/1/*.png|-1|-1|{c.signer}|{' '.join(c.glosses)}|{_translation(c)}"
            for c in clips if c.split == split
        ]
        _write_if_changed(corpus_dir / f"PHOENIX-2014-T.{split}.corpus.csv", "\n".join(rows) + "\n")
    fdir = root / FASHION_DIR
    for fsplit in ("train", "test"):
        pairs = ["from,to"] + [f"{a},{b}" for group in names[fsplit] for a in group for b in group if a != b]
        _write_if_changed(fdir / f"fasion-resize-pairs-{fsplit}.csv", "\n".join(pairs) + "\n")
        _write_if_changed(fdir / f"fasion-resize-annotation-{fsplit}.csv",
                          "\n".join([ANNOTATION_HEADER] + annotations[fsplit]) + "\n")
        _write_if_changed(fdir / f"{fsplit}.lst", "".join(n + "\n" for g in names[fsplit] for n in g))
    counts = {s: sum(c.split == s for c in clips) for s in SPLITS}
    summary = {"root": str(root), "phoenix": counts,
               "fashion": {s: sum(len(g) for g in names[s]) for s in ("train", "test")},
               "rendered": rendered, "skipped": skipped}
    if fingerspelling_per_signer:
        summary["fingerspelling"] = {s: sum(c.split == s and c.motion == "fingerspelling" for c in clips)
                                     for s in SPLITS}
    return summary
