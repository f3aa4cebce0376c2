"""`signgen synthesize | render | export | eval`: thin wrappers around `signgen.api` and
`signgen.eval.report`. Each checks its output path first, calls one library function and prints
a one-line summary; bad input is an `InputError` (one line, exit code 2, no output file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from ..errors import InputError
from .output import console


_MODEL = "Model bundle folder (default: the model bundled in signgen/assets/default-model)."
_DEVICE = "auto (cuda if available, else cpu), cpu, cuda or cuda:N."
_STEPS = "Denoising steps (default: the model's; FPDM: 20 DDPM steps)."
_GUIDANCE = "Guidance weight w (default: the model's, 2.0 for FPDM); 1 = no guidance."
_NOISE = "shared (default): every frame starts from the same noise (steady appearance); independent; mixed."
_KEEP_STATIC = ("Generate only where the source's and each frame's arms and hands are (and the face when it moves); "
                "keep the source picture elsewhere (no redrawn background).")
_SMOOTH = "Temporal smoothing of the latents at the noisy steps, 0..1 (0 = off; default 0.5)."
_SEED = "Random seed (default 0): same seed, same output on the same device."
_SAMPLER = "Sampler: ddpm, ddim, dpm++ or unipc (default: the model's)."
_PRECISION = "UNet precision: auto (bf16 where the CPU or GPU runs it natively, else fp32), fp32, bf16, fp16."


def synthesize(
    source: Path = typer.Option(..., "--source", help="Picture of the person (png, jpg, ...)."),
    pose: Path = typer.Option(..., "--pose", help="Target pose: a track file (.json, .pose, .npy, .npz, OpenPose folder)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output picture (.png, .jpg, .webp); several samples: out-0.png, out-1.png, ..."),
    num_samples: int = typer.Option(1, "--num-samples", "-n", help="How many pictures (different noise)."),
    frame: int = typer.Option(0, "--frame", help="Which frame of the pose track to use."),
    model: Optional[Path] = typer.Option(None, "--model", help=_MODEL),
    steps: Optional[int] = typer.Option(None, "--steps", help=_STEPS),
    guidance: Optional[float] = typer.Option(None, "--guidance", help=_GUIDANCE),
    sampler: Optional[str] = typer.Option(None, "--sampler", help=_SAMPLER),
    precision: Optional[str] = typer.Option(None, "--precision", help=_PRECISION),
    seed: Optional[int] = typer.Option(None, "--seed", help=_SEED),
    device: str = typer.Option("auto", "--device", help=_DEVICE),
    retarget: bool = typer.Option(True, "--retarget/--no-retarget", help="Fit the pose to the person found in the picture (MediaPipe)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """One target pose -> pictures of the source person in that pose (DeepFashion-style path)."""
    from ..api import synthesize as run
    from ..rendering.inputs import sample_paths

    pictures = run(source, pose, num_samples=num_samples, output=output, frame=frame, model=model, steps=steps,
                   guidance=guidance, sampler=sampler, precision=precision, seed=seed, device=device, retarget=retarget,
                   progress=not quiet)
    paths = sample_paths(output, num_samples)
    h, w = pictures[0].shape[:2]
    names = str(paths[0]) if len(paths) == 1 else f"{paths[0]} .. {paths[-1]}"
    console.print(Text(f"wrote {names}: {len(pictures)} picture{'s' if len(pictures) > 1 else ''}, {w}x{h}"))


def render(
    source: Path = typer.Option(..., "--source", help="Picture of the signer."),
    output: Path = typer.Option(..., "-o", "--output", help="Output video: .mp4, .webm or .gif."),
    poses: Optional[Path] = typer.Option(None, "--poses", help="Motion: a signgen JSON track or gloss sequence, .pose, OpenPose JSON folder, .npy/.npz, or a driving video."),
    glosses: Optional[str] = typer.Option(None, "--glosses", help='Glosses to sign, e.g. "H A L L O" (instead of --poses).'),
    text: Optional[str] = typer.Option(None, "--text", help='Spoken-language text to sign, e.g. "Hallo, wie geht es dir?" (glosses by spoken-to-signed\'s offline text-to-gloss).'),
    lexicon: Optional[str] = typer.Option(None, "--lexicon", help="Lexicon for --glosses / --text: a folder or 'fingerspelling' (default)."),
    language: Optional[str] = typer.Option(None, "--language", help="With --glosses: the signed-language code of the lexicon entries, e.g. gsg. With --text: the text's spoken language, e.g. de."),
    signed_language: Optional[str] = typer.Option(None, "--signed-language", help="With --text: the signed language to sign in, e.g. gsg (default: the lexicon's, when it has one)."),
    fingerspell_unknown: bool = typer.Option(False, "--fingerspell-unknown", help="Spell words and glosses the lexicon lacks, letter by letter."),
    model: Optional[Path] = typer.Option(None, "--model", help=_MODEL),
    fps: Optional[float] = typer.Option(None, "--fps", help="Output frame rate (the motion is resampled; default: the motion's)."),
    steps: Optional[int] = typer.Option(None, "--steps", help=_STEPS),
    guidance: Optional[float] = typer.Option(None, "--guidance", help=_GUIDANCE),
    sampler: Optional[str] = typer.Option(None, "--sampler", help=_SAMPLER),
    precision: Optional[str] = typer.Option(None, "--precision", help=_PRECISION),
    fusion_guidance: Optional[float] = typer.Option(None, "--fusion-guidance", help="A separate weight for the fusion-embedding term (default: the same as --guidance)."),
    seed: Optional[int] = typer.Option(None, "--seed", help=_SEED),
    device: str = typer.Option("auto", "--device", help=_DEVICE),
    noise: Optional[str] = typer.Option(None, "--noise", help=_NOISE),
    smoothing: Optional[float] = typer.Option(None, "--smoothing", help=_SMOOTH),
    retarget: bool = typer.Option(True, "--retarget/--no-retarget", help="Fit the motion to the signer found in the picture (MediaPipe); --no-retarget uses its own coordinates."),
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Write source | drawn pose | result, 3x as wide."),
    save_track: Optional[Path] = typer.Option(None, "--save-track", help="Also write the motion as rendered (fitted to the signer): .pose (MediaPipe Holistic), .json or .npz."),
    keep_static: bool = typer.Option(False, "--keep-static", help=_KEEP_STATIC),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """A picture of a signer + a motion -> a video of that signer signing."""
    from ..api import render as run
    from ..video import video_info

    given = [flag for flag, v in (("--poses", poses), ("--glosses", glosses), ("--text", text)) if v is not None]
    if not given:
        raise InputError("give the motion: --poses FILE, --glosses \"...\" or --text \"...\"")
    if len(given) > 1:
        raise InputError(f"give one motion, not {' and '.join(given)}")
    if text is not None:
        show_coverage(text, language, lexicon, signed_language, fingerspell_unknown)
    out = run(source, poses, glosses=glosses, text=text, signed_language=signed_language,
              fingerspell_unknown=fingerspell_unknown, lexicon=lexicon, language=language, output=output, model=model,
              steps=steps, guidance=guidance, fusion_guidance=fusion_guidance, sampler=sampler, precision=precision,
              seed=seed, device=device, noise=noise, smoothing=smoothing,
              retarget=retarget, side_by_side=side_by_side, fps=fps, progress=not quiet, track_output=save_track,
              keep_static=keep_static)
    n, rate, w, h = video_info(out)
    console.print(Text(f"wrote {out}: {n} frames, {rate:g} fps, {w}x{h}"))


def show_coverage(text: str, language: str | None, lexicon: str | None, signed_language: str | None,
                  fingerspell_unknown: bool) -> None:
    """Print which words of `text` the lexicon has and which are spelled (before any rendering)."""
    from ..pose.text import text_to_glosses

    found = text_to_glosses(text, language or "", lexicon or "fingerspelling", signed_language,
                            fingerspell_unknown=fingerspell_unknown)
    console.print(Text(found.summary()))


def export(
    prepared: Optional[Path] = typer.Argument(None, metavar="PREPARED", help="Prepared dataset folder (signgen prep ...)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder: pred/, gt/, videos/ (see `signgen eval`)."),
    split: str = typer.Option("test", "--split", help="Pair list to render: pairs/<split>.jsonl."),
    jobs: Optional[Path] = typer.Option(None, "--jobs", help='Instead of PREPARED: a JSONL of {"id", "source", "poses"} per clip.'),
    shard: Optional[str] = typer.Option(None, "--shard", help="i/n: render only shard i of n (default: the process rank under accelerate launch, else all)."),
    model: Optional[Path] = typer.Option(None, "--model", help=_MODEL),
    steps: Optional[int] = typer.Option(None, "--steps", help=_STEPS),
    guidance: Optional[float] = typer.Option(None, "--guidance", help=_GUIDANCE),
    sampler: Optional[str] = typer.Option(None, "--sampler", help=_SAMPLER),
    precision: Optional[str] = typer.Option(None, "--precision", help=_PRECISION),
    seed: Optional[int] = typer.Option(None, "--seed", help=_SEED + " The same for every clip."),
    device: str = typer.Option("auto", "--device", help=_DEVICE + " Under accelerate launch, auto takes cuda:LOCAL_RANK."),
    noise: Optional[str] = typer.Option(None, "--noise", help=_NOISE),
    smoothing: Optional[float] = typer.Option(None, "--smoothing", help=_SMOOTH),
    retarget: bool = typer.Option(True, "--retarget/--no-retarget", help="--jobs only: fit each motion to its source signer."),
    keep_static: bool = typer.Option(False, "--keep-static", help=_KEEP_STATIC + " PREPARED only (its source poses are known)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Render a test protocol for evaluation: one video + per-frame PNGs per clip; resumable, shardable."""
    from ..base.files import check_output_folder
    from ..base.progress import progress_updates
    from ..rendering import export as ex
    from ..rendering.pipeline import Renderer, resolve_model
    from ..rendering.settings import Settings

    if (prepared is None) == (jobs is None):
        raise InputError("give either PREPARED or --jobs FILE")
    if keep_static and jobs is not None:
        raise InputError("--keep-static needs PREPARED: a --jobs file does not give the sources' poses")
    the_shard = ex.parse_shard(shard) if shard is not None else ex.shard_from_env()
    settings = Settings.given(steps=steps, guidance=guidance, sampler=sampler, precision=precision, seed=seed,
                              noise=noise, smoothing=smoothing, keep_static=keep_static or None)
    check_output_folder(output)
    model_dir, dev = resolve_model(model), _device_for_rank(device)
    clip_jobs = ex.jobs_from_prepared(prepared, split) if prepared is not None else ex.jobs_from_jsonl(jobs, retarget)
    renderer = Renderer.load(model_dir, dev)
    with progress_updates(not quiet) as update:
        counts = ex.export(clip_jobs, output, renderer, settings, shard=the_shard, progress=update)
    console.print(Text(f"exported to {output}: shard {the_shard[0]}/{the_shard[1]}, {counts['rendered']} clip(s) "
                       f"rendered ({counts['frames']} frames), {counts['skipped']} already done"))


def _device_for_rank(device: str):
    """pick_device, but "auto" under a multi-GPU launch takes this process's GPU (LOCAL_RANK)."""
    import os

    import torch

    from ..models.device import pick_device

    picked = pick_device(device)
    if device == "auto" and picked.type == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]) % max(1, torch.cuda.device_count()))
    return picked


def evaluate(
    pred: Path = typer.Argument(..., metavar="PRED", help="Predicted clips: folders of frames or videos (e.g. OUT/pred from export)."),
    gt: Path = typer.Argument(..., metavar="GT", help="Ground-truth clips, same names (e.g. OUT/gt)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the per-clip and overall scores as JSON."),
    lpips_weights: Optional[Path] = typer.Option(None, "--lpips-weights", help="Local LPIPS-AlexNet state dict (needs the lpips package)."),
    fid_weights: Optional[Path] = typer.Option(None, "--fid-weights", help="Local FID Inception weights (needs torchmetrics + torch-fidelity)."),
    fvd_weights: Optional[Path] = typer.Option(None, "--fvd-weights", help="Local I3D (Kinetics-400) state dict for FVD, .safetensors or .pt (needs cd-fvd)."),
    legibility: Optional[Path] = typer.Option(None, "--legibility", help="A hand classifier (signgen train legibility): back-recognise the hands."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="With --legibility: the synthetic release's groundtruth/phoenix folder."),
    keypoints: bool = typer.Option(False, "--keypoints", help="MediaPipe on the predicted frames vs the target poses: hand detection rate, joint errors (real data)."),
) -> None:
    """SSIM, PSNR (LPIPS, FID, FVD with local weights) and temporal scores, on the whole frame, the changed
    region and (with poses) the hand and face crops; with --legibility, how many hands read right."""
    from ..eval import report as rep
    from ..base.files import check_output_path

    if json_out is not None:
        check_output_path(json_out, (".json",))
    result = rep.evaluate(pred, gt, lpips_weights=lpips_weights, fid_weights=fid_weights, fvd_weights=fvd_weights,
                          legibility=legibility, labels=labels, keypoints=keypoints)
    console.print(rep.table(result))
    o = result["overall"]
    if "fid" in o:
        console.print(Text(f"FID {o['fid']:.2f} / changed region {o['fid_region']:.2f}"))
    if "fvd" in o:
        console.print(Text(f"FVD {o['fvd']:.2f} ({o['fvd_windows']} windows of 16 frames)"))
    found = [f"{label} {fmt.format(o[k])}" for k, label, fmt in (
        ("hand_detection", "hands found", "{:.1%}"), ("arm_error_px", "arm joint error", "{:.1f} px"),
        ("hand_error_px", "hand joint error", "{:.1f} px")) if k in o]
    if found:
        console.print(Text("MediaPipe on the frames: " + ", ".join(found)))
    for note in result["notes"]:
        console.print(Text(f"note: {note}"))
    if json_out is not None:
        rep.write_json(result, json_out)
        console.print(Text(f"wrote {json_out}"))
