"""`signgen pose ...`: extract, convert, preview, and build tracks from glosses.

Thin wrappers: check the output path first (so a typo fails before minutes of work), call
one library function, print a one-line summary. Heavy modules (mediapipe, the lexicon,
ffmpeg) are imported inside the command that needs them, so `signgen --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from ..errors import InputError
from ..pose import PoseTrack
from ..pose import io as pose_io
from ..pose.extract import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS  # light: mediapipe loads on use
from ..pose.io.checks import check_fps, check_size, parse_frame_size
from .output import console, group, layout_name

app = group("Keypoint tracks: extract, convert, preview, build from glosses.")

_TRACK_FORMATS = ".pose, .json, .npy, .npz, or a folder of OpenPose *_keypoints.json files (or a .zip of one)"
_OUT_LAYOUT = ("Layout of the written track (default: canonical; a .pose file: MediaPipe Holistic, "
               "which pose-format and spoken-to-signed read; 'canonical' keeps signgen's own).")


def _fps(value: float | None, flag: str) -> float | None:
    return None if value is None else check_fps(value, flag)


def _frame_size(value: int | None, flag: str) -> int | None:
    return None if value is None else check_size(value, flag)


def _in_size(text: str | None) -> tuple[int | None, int | None]:
    """'210x260' -> (210, 260); (None, None) when not given."""
    return (None, None) if text is None else parse_frame_size(text, "--in-size")


def summary(verb: str, path: Path, track: PoseTrack) -> None:
    """The one line every command prints: what was written, and its shape."""
    console.print(Text(
        f"{verb} {path}: {track.num_frames} frame{'s' if track.num_frames != 1 else ''}, {track.fps:g} fps, "
        f"{track.layout} ({track.num_keypoints} points), {track.width}x{track.height}"
    ))


def _resample(track: PoseTrack, fps: float | None) -> PoseTrack:
    if fps is None or fps == track.fps:
        return track
    from ..pose.filters import resample

    return resample(track, fps)


@app.command("convert")
def convert(
    src: Path = typer.Argument(..., metavar="IN", help=f"Input track: {_TRACK_FORMATS}."),
    out: Path = typer.Option(..., "-o", "--output", help="Output track; the format follows the extension (.pose, .json, .npy, .npz)."),
    layout: Optional[str] = typer.Option(None, "--layout", help="Convert to this layout (canonical, holistic, coco_wholebody, openpose18, openpose); default: the input's, and for .pose MediaPipe Holistic (OpenPose for OpenPose input), which other tools read."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Resample to this frame rate, at most 1000 (linear interpolation; duration kept)."),
    in_layout: Optional[str] = typer.Option(None, "--in-layout", help="Layout of the input points, when the file does not say and the point count does not tell."),
    in_fps: Optional[float] = typer.Option(None, "--in-fps", help="Frame rate of the input (OpenPose folders and .npy do not store one; default 25)."),
    in_size: Optional[str] = typer.Option(None, "--in-size", help="Frame size of the input as WxH, e.g. 1280x720 (default: stored, or inferred from the largest coordinate)."),
) -> None:
    """Convert a keypoint track between formats, layouts and frame rates.

    Example: signgen pose convert openpose_out/ -o seq.json --layout canonical --in-fps 30 --fps 25
    """
    out = pose_io.check_output_path(out)
    layout = layout_name(layout, "--layout")
    _fps(fps, "--fps")
    width, height = _in_size(in_size)
    track = pose_io.read_track(
        src, layout=layout_name(in_layout, "--in-layout"), fps=_fps(in_fps, "--in-fps"), width=width, height=height
    )
    track = pose_io.write_track(_resample(track, fps), out, layout)
    summary("wrote", out, track)


@app.command("extract")
def extract(
    src: Path = typer.Argument(..., metavar="IN", help=f"An image ({', '.join(IMAGE_EXTENSIONS)}) or a video ({', '.join(VIDEO_EXTENSIONS)})."),
    out: Path = typer.Option(..., "-o", "--output", help="Output track (.pose, .json, .npy, .npz)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar for videos."),
) -> None:
    """Extract MediaPipe Holistic keypoints (553 points per frame) from an image or a video.

    Example: signgen pose extract signer.mp4 -o signer.pose
    """
    out = pose_io.check_output_path(out)
    from ..pose.extract import extract_file

    track = extract_file(src, progress=progress)
    pose_io.write_track(track, out)
    summary("wrote", out, track)


@app.command("preview")
def preview(
    src: Path = typer.Argument(..., metavar="IN", help=f"Input track: {_TRACK_FORMATS}."),
    out: Path = typer.Option(..., "-o", "--output", help="Output video (.mp4, .webm or .gif)."),
    width: Optional[int] = typer.Option(None, "--width", help="Video width (default: the track's frame width, or kept in proportion to --height)."),
    height: Optional[int] = typer.Option(None, "--height", help="Video height (default: the track's frame height, or kept in proportion to --width)."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Video frame rate; the track is resampled to it (default: the track's)."),
) -> None:
    """Draw a keypoint track as a skeleton video, to check it by eye.

    The signer's right side is drawn in warm colours (red to yellow), the left in cool ones
    (blue to violet), each finger in its own hue, the face in grey: the pose images the model sees.

    Example: signgen pose preview seq.json -o preview.mp4 --width 256 --height 256
    """
    from ..video import FORMATS, write_video

    out = pose_io.check_output_path(out, FORMATS)
    _fps(fps, "--fps")
    _frame_size(width, "--width"), _frame_size(height, "--height")
    from ..pose.draw import draw_track

    track = _resample(pose_io.read_track(src), fps)
    if not (track.conf > 0).any():
        raise InputError("no keypoint is visible in any frame; the preview would be blank", src)
    if (width is None) != (height is None):  # one side given: keep the track's aspect ratio
        width = width or max(1, round(track.width * height / track.height))
        height = height or max(1, round(track.height * width / track.width))
    write_video(draw_track(track, width=width, height=height), out, track.fps)
    shown = track.copy(width=width or track.width, height=height or track.height)
    summary("wrote", out, shown)


def _glosses_to_track():
    """The lexicon's gloss-to-track function (it may live in lexicon.py or stitch.py)."""
    from ..pose import lexicon

    fn = getattr(lexicon, "glosses_to_track", None)
    if fn is None:
        from ..pose.stitch import glosses_to_track as fn
    return fn


@app.command("from-glosses")
def from_glosses(
    glosses: str = typer.Argument(..., help='Glosses separated by spaces ("H A L L O"), or a seq.json gloss sequence.'),
    out: Path = typer.Option(..., "-o", "--output", help="Output track (.json, .pose, .npy, .npz)."),
    lexicon: Optional[str] = typer.Option(None, "--lexicon", help='A lexicon folder (spoken-to-signed index.csv layout) or "fingerspelling" (the default).'),
    language: Optional[str] = typer.Option(None, "--language", help="Signed-language code, e.g. gsg (German), ase (American), fsl (Filipino); needed when the lexicon has several."),
    fps: float = typer.Option(25.0, "--fps", help="Frame rate of the track (at most 1000)."),
    fingerspell_unknown: bool = typer.Option(False, "--fingerspell-unknown", help="Spell glosses the lexicon lacks, letter by letter."),
    width: int = typer.Option(512, "--width", help="Frame width of the track; the signer is placed and scaled to fit it."),
    height: int = typer.Option(512, "--height", help="Frame height of the track."),
    layout: Optional[str] = typer.Option(None, "--layout", help=_OUT_LAYOUT),
) -> None:
    """Build one continuous keypoint track from glosses, by looking them up in a lexicon.

    The result is in the 128-point canonical layout (a .pose file: MediaPipe Holistic, which
    pose-format and spoken-to-signed read), with smooth transitions between signs and the gloss
    of every frame range stored with the track (.json and .npz keep it).

    Example: signgen pose from-glosses "H A L L O" --lexicon fingerspelling --language gsg -o hallo.json
    """
    out = pose_io.check_output_path(out)
    layout = layout_name(layout, "--layout")
    _fps(fps, "--fps")
    _frame_size(width, "--width"), _frame_size(height, "--height")
    items: list[str] = glosses.split()
    path = Path(glosses)
    if path.suffix.lower() == ".json" and len(items) == 1:
        seq = pose_io.read_sequence(path)
        if not isinstance(seq, pose_io.GlossSequence):
            raise InputError("is a keypoint track, not a gloss sequence", path)
        items = list(seq.glosses)
        lexicon = lexicon or seq.lexicon
        language = language or seq.language
    track = _glosses_to_track()(
        items, lexicon or "fingerspelling", language, fps=fps,
        fingerspell_unknown=fingerspell_unknown, width=width, height=height,
    )
    summary("wrote", out, pose_io.write_track(track, out, layout))


@app.command("from-text")
def from_text(
    text: str = typer.Argument(..., help='Spoken-language text, e.g. "Hallo, wie geht es dir?".'),
    out: Path = typer.Option(..., "-o", "--output", help="Output track (.json, .pose, .npy, .npz)."),
    language: str = typer.Option(..., "--language", help="Spoken language of the text, e.g. de, en, fr."),
    signed_language: Optional[str] = typer.Option(None, "--signed-language", help="Signed language, e.g. gsg (default: the lexicon's, when it has only one)."),
    lexicon: Optional[str] = typer.Option(None, "--lexicon", help='A lexicon folder (spoken-to-signed index.csv layout) or "fingerspelling" (the default).'),
    fingerspell_unknown: bool = typer.Option(False, "--fingerspell-unknown", help="Spell words the lexicon lacks, letter by letter."),
    fps: float = typer.Option(25.0, "--fps", help="Frame rate of the track (at most 1000)."),
    width: int = typer.Option(512, "--width", help="Frame width of the track."),
    height: int = typer.Option(512, "--height", help="Frame height of the track."),
    layout: Optional[str] = typer.Option(None, "--layout", help=_OUT_LAYOUT),
) -> None:
    """Build a keypoint track from spoken-language text: spoken-to-signed's offline text-to-gloss
    (simplemma lemmas), then the lexicon, as `from-glosses` does.

    Prints which words the lexicon covered and which were fingerspelled.

    Example: signgen pose from-text "Hallo, wie geht es dir?" --language de --signed-language gsg -o hallo.pose
    """
    out = pose_io.check_output_path(out)
    layout = layout_name(layout, "--layout")
    _fps(fps, "--fps")
    _frame_size(width, "--width"), _frame_size(height, "--height")
    from ..pose.text import text_to_track

    track = text_to_track(text, language, lexicon or "fingerspelling", signed_language,
                          fingerspell_unknown=fingerspell_unknown, fps=fps, width=width, height=height)
    console.print(Text(track.meta["coverage"].summary()))
    summary("wrote", out, pose_io.write_track(track, out, layout))
