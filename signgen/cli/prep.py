"""`signgen prep ...`: raw datasets -> the prepared format, and a gloss lexicon learned from it.

Thin wrappers over `signgen.prep`: parse, call, print a summary. A broken clip is reported and
skipped; the exit code is 0 when anything was prepared, 1 when nothing was, 2 for input the
user must fix (a RAW folder that is not a release).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from ..pose.io.checks import parse_frame_size
from .output import console, err_console, group, layout_name

app = group("Prepare datasets (PHOENIX-2014-T, DeepFashion, synthetic) and learn a gloss lexicon.")


def _report(summary) -> int:
    """Print what a preparer did; the exit code (0 if the prepared folder holds any clip)."""
    splits = ", ".join(f"{k} {v}" for k, v in summary.clips.items())
    pairs = ", ".join(f"{k} {v}" for k, v in summary.pairs.items())
    console.print(Text(
        f"prepared {summary.prepared} clip(s), {summary.reused} already done, in {summary.root}: "
        f"{splits or 'no clips'}; pairs: {pairs or 'none'}"
    ))
    if len(summary.report):
        err_console.print(Text(f"skipped {len(summary.report)} (listed in {Path(summary.root) / 'skipped.json'}):"))
        for line in summary.report.lines():
            err_console.print(Text(f"  {line}"))
    if summary.total == 0:
        err_console.print(Text("nothing was prepared"))
        return 1
    return 0


@app.command("phoenix")
def phoenix(
    raw: Path = typer.Argument(..., metavar="RAW", help="The PHOENIX-2014-T release folder (annotations/, features/)."),
    out: Path = typer.Option(..., "-o", "--output", help="Prepared dataset folder (created; a rerun resumes)."),
    keypoints: str = typer.Option("extract", "--keypoints", help="'extract' (MediaPipe Holistic on every frame) or a folder of per-clip keypoint files (<name>.pose / .npz / .npy / COCO-WholeBody .json)."),
    workers: int = typer.Option(1, "--workers", help="Worker processes for reading frames and extracting keypoints."),
    pairs: int = typer.Option(100_000, "--pairs", help="Random (source, target) training pairs to draw from train clips."),
    seed: int = typer.Option(0, "--seed", help="Seed of the training-pair draw."),
    frame_stride: int = typer.Option(1, "--frame-stride", help="Draw training pairs from every N-th frame only (a smaller, faster stage-2 feature cache)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> int:
    """RWTH-PHOENIX-Weather 2014T -> prepared clips, training pairs and the test protocol."""
    from ..prep.phoenix import prepare_phoenix

    return _report(prepare_phoenix(raw, out, keypoints=keypoints, workers=workers, num_pairs=pairs,
                                   seed=seed, frame_stride=frame_stride, progress=progress))


@app.command("deepfashion")
def deepfashion(
    raw: Path = typer.Argument(..., metavar="RAW", help="Folder with fasion-resize-{pairs,annotation}-{train,test}.csv and the images."),
    out: Path = typer.Option(..., "-o", "--output", help="Prepared dataset folder (created; a rerun resumes)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> int:
    """DeepFashion In-shop (PGPIS pair lists, OpenPose-18 keypoints) -> prepared one-frame clips and pairs."""
    from ..prep.deepfashion import prepare_deepfashion

    return _report(prepare_deepfashion(raw, out, progress=progress))


@app.command("synthetic")
def synthetic(
    out: Path = typer.Option(..., "-o", "--output", help="Folder for the synthetic release (a rerun resumes)."),
    signers: int = typer.Option(9, "--signers", help="Number of synthetic signers (>= 2)."),
    sentences: int = typer.Option(20, "--sentences", help="Sentences per signer."),
    fingerspelling: int = typer.Option(0, "--fingerspelling", help="Real fingerspelled words per signer (spoken-to-signed's lexicon, retargeted)."),
    seed: int = typer.Option(0, "--seed", help="Seed of everything in the release."),
    size: str = typer.Option("210x260", "--size", help="Sign-video frame size WxH (PHOENIX's is 210x260; render at a model's size to evaluate at it)."),
    keep_out: Optional[Path] = typer.Option(None, "--keep-out", help="Another synthetic release whose dev and test fingerspelled words this release's train never spells (train on this one, evaluate on that one)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> int:
    """A procedural release in the PHOENIX-2014-T and DeepFashion layouts, with exact ground truth."""
    from ..prep.synthetic import make_synthetic_release

    counts = make_synthetic_release(out, num_signers=signers, sentences_per_signer=sentences,
                                    fingerspelling_per_signer=fingerspelling, seed=seed, progress=progress,
                                    size=parse_frame_size(size, "--size"), keep_out=keep_out)
    ph, fa = counts["phoenix"], counts["fashion"]
    console.print(Text(
        f"wrote {out}: PHOENIX-2014-T/ (train {ph['train']}, dev {ph['dev']}, test {ph['test']} clips), "
        f"fashion/ (train {fa['train']}, test {fa['test']} images), groundtruth/; "
        f"{counts['rendered']} rendered, {counts['skipped']} already there"
    ))
    return 0


@app.command("lexicon")
def lexicon(
    prepared: Path = typer.Argument(..., metavar="PREPARED", help="A prepared dataset with gloss sentences (from `prep phoenix`)."),
    out: Path = typer.Option(..., "-o", "--output", help="Lexicon folder to write (index.csv + .pose files)."),
    iterations: int = typer.Option(5, "--iterations", help="Re-segmentation rounds after the flat start (0: uniform segmentation)."),
    split: str = typer.Option("train", "--split", help="Which split's sentences to learn from."),
    language: str = typer.Option("gsg", "--language", help="signed_language code written to index.csv."),
    spoken_language: str = typer.Option("de", "--spoken-language", help="spoken_language code written to index.csv (text lookup matches it)."),
    layout: Optional[str] = typer.Option(None, "--layout", help="Layout of the clips (default: MediaPipe Holistic, which spoken-to-signed reads; 'canonical' keeps signgen's own)."),
    workers: int = typer.Option(1, "--workers", help="Worker processes for re-segmenting sentences."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> int:
    """Learn a gloss lexicon from sentence-level glosses: align, then keep each gloss's most typical clip."""
    from ..prep.lexicon import learn_lexicon
    from signgen.errors import InputError

    if iterations < 0:
        raise InputError(f"--iterations must be >= 0, got {iterations}")
    if workers < 1:
        raise InputError(f"--workers must be >= 1, got {workers}")
    layout = layout_name(layout, "--layout")
    s = learn_lexicon(prepared, out, iterations=iterations, split=split, signed_language=language,
                      spoken_language=spoken_language, progress=progress, workers=workers, layout=layout)
    console.print(Text(
        f"wrote lexicon {s.folder}: {s.glosses} glosses from {s.sentences} {split} sentences, "
        f"{s.iterations} iteration(s)" + (f", mean template cost {s.costs[-1]:.4f}" if s.costs else "")
    ))
    if len(s.report):
        err_console.print(Text(f"skipped {len(s.report)} sentence(s) (listed in {s.folder / 'skipped.json'})"))
    return 0
