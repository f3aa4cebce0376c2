"""MediaPipe Holistic keypoints from images and videos, as `holistic`-layout `PoseTrack`s.

Why MediaPipe Holistic: it is what the sign-language tooling we interoperate with
(pose-format, spoken-to-signed and its fingerspelling lexicon) stores, so a track we extract
from a driving video and a clip from a lexicon are the same kind of data.

Layout and values (553 points; see `signgen/pose/layouts/holistic.py`):

- pose 33 + face 478 (refined mesh with irises) + left hand 21 + right hand 21;
- xy in pixels of the input image (MediaPipe's normalised x * width, y * height);
- conf: MediaPipe's `visibility` for the 33 pose landmarks, 1.0 for every point of a
  detected face or hand, 0.0 for every point of a part that was not detected;
- z: MediaPipe's raw z (same scale as x, relative; not metric) in `meta["z"]` ([T, K]),
  0 where missing, exactly as `signgen.pose.io.read_pose` keeps it.

Left and right (the English-vs-mirror question): we store MediaPipe's output unmirrored,
as `pose_format.utils.holistic` does. MediaPipe Holistic names its pose landmarks and its
`left_hand_landmarks` / `right_hand_landmarks` after the *person's* own sides (the hand
crops come from the pose's own wrists), so LEFT_HAND_LANDMARKS is the signer's left hand,
and for a signer facing the camera it is on the right of the image. The spoken-to-signed
fingerspelling lexicon follows the same convention: over 200 of its files, each hand
component's wrist sits next to the same-named pose wrist (median 10 px; 5203 of 5237
frames), and `left_shoulder` lies at larger x than `right_shoulder`. Nothing is flipped
here; a selfie-mirrored input video therefore yields mirrored sides, as it would in
pose-format.

Only `model_complexity=1` works offline with mediapipe 0.10.21 (its wheel ships
`pose_landmark_full.tflite`); 0 and 2 need MediaPipe to download the lite/heavy model on
first use, and fail with an `InputError` here when that is impossible.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..base.images import as_rgb, read_image
from ..base.progress import progress_bar
from ..errors import InputError
from .layouts import holistic as H
from .track import PoseTrack

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".webm", ".avi", ".mov", ".mkv")
NUM_KEYPOINTS = len(H.NAMES)  # 553
IMAGE_FPS = 25.0  # a still image becomes a one-frame track; PoseTrack needs some fps

_LEFT_SHOULDER = H.POSE33.index("left_shoulder")
_RIGHT_SHOULDER = H.POSE33.index("right_shoulder")


@contextmanager
def _holistic(static_image_mode: bool, model_complexity: int) -> Iterator[Any]:
    """One MediaPipe Holistic graph, closed on exit (its graph owns threads and model memory)."""
    if model_complexity not in (0, 1, 2):
        raise InputError(f"model_complexity must be 0, 1 or 2, got {model_complexity!r}")
    import mediapipe as mp

    try:
        model = mp.solutions.holistic.Holistic(
            static_image_mode=static_image_mode,
            model_complexity=model_complexity,
            refine_face_landmarks=True,
        )
    except OSError as e:  # complexity 0/2: the model file is fetched on first use
        raise InputError(
            f"MediaPipe Holistic with model_complexity={model_complexity} needs a model file that "
            f"mediapipe does not ship and could not download ({e}); use model_complexity=1"
        ) from None
    with model:
        yield model


def _frame_arrays(results: Any, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe results of one frame -> xy [553, 2] (pixels), conf [553], z [553]."""
    xyz = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float32)
    conf = np.zeros(NUM_KEYPOINTS, dtype=np.float32)
    parts = (
        (results.pose_landmarks, H.POSE_START, 33, True),
        (results.face_landmarks, H.FACE_START, H.FACE_POINTS, False),
        (results.left_hand_landmarks, H.LEFT_HAND_START, 21, False),
        (results.right_hand_landmarks, H.RIGHT_HAND_START, 21, False),
    )
    for landmarks, start, count, has_visibility in parts:
        if landmarks is None:
            continue
        lm = landmarks.landmark[:count]
        n = len(lm)
        xyz[start : start + n] = [(p.x * width, p.y * height, p.z) for p in lm]
        if has_visibility:
            conf[start : start + n] = np.clip([p.visibility for p in lm], 0.0, 1.0)
        else:
            conf[start : start + n] = 1.0
    bad = ~np.isfinite(xyz).all(axis=1)
    conf[bad], xyz[bad] = 0.0, 0.0
    return xyz[:, :2], conf, xyz[:, 2]


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError("no such file", path)
    if not path.is_file():
        raise InputError("not a file", path)


def extract_image(image: np.ndarray | str | Path, *, model_complexity: int = 1) -> PoseTrack:
    """Holistic keypoints of one image (an RGB array or an image file) as a one-frame track.

    Runs MediaPipe in static-image mode: no tracking state, so the result does not depend
    on anything processed before.
    """
    path = None
    if isinstance(image, (str, Path)):
        path = Path(image)
        image = read_image(path)
    rgb = as_rgb(image, path)
    height, width = rgb.shape[:2]
    from ..video import native_stderr_silenced  # MediaPipe's C++ logs a dozen lines at start-up

    with native_stderr_silenced(), _holistic(True, model_complexity) as model:
        xy, conf, z = _frame_arrays(model.process(rgb), width, height)
    meta: dict[str, Any] = {"z": z[None], "extractor": "mediapipe-holistic"}
    if path is not None:
        meta["source"] = str(path)
    _warn_if_empty(conf[None], path)
    return PoseTrack(
        xy=xy[None], conf=conf[None], fps=IMAGE_FPS, width=width, height=height,
        layout="holistic", meta=meta,
    )


def _warn_if_empty(conf: np.ndarray, path: Path | None) -> None:
    """Say when MediaPipe found nobody: a silent all-missing track looks like a success."""
    empty = int((~(conf > 0).any(axis=1)).sum())
    if empty:
        where = f"{path}: " if path is not None else ""
        what = "the image" if len(conf) == 1 else f"{empty} of {len(conf)} frames"
        tail = "every point is missing" if empty == len(conf) else "their points are missing"
        warnings.warn(f"{where}no person found in {what}; {tail}", stacklevel=3)


def _open_video(path: Path):
    from ..video import open_decord

    _check_file(path)
    reader = open_decord(path)
    if len(reader) == 0:
        raise InputError("the video has no frames", path)
    return reader


def extract_video(
    path: str | Path, *, progress: bool = True, batch_size: int = 32, model_complexity: int = 1
) -> PoseTrack:
    """Holistic keypoints of every frame of a video, at the video's own fps.

    Frames are decoded by decord in chunks of `batch_size`, so memory holds one chunk of
    frames (plus the small keypoint arrays) however long the video is. All frames go
    through one Holistic instance in tracking mode, which is both faster than detecting
    from scratch each frame and steadier over time.
    """
    path = Path(path)
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    reader = _open_video(path)
    total = len(reader)
    fps = float(reader.get_avg_fps())
    if not (fps > 0 and np.isfinite(fps)):
        raise InputError(f"the video reports no valid frame rate ({fps})", path)
    first = reader[0].asnumpy()
    height, width = first.shape[:2]
    del first
    xy = np.zeros((total, NUM_KEYPOINTS, 2), dtype=np.float32)
    conf = np.zeros((total, NUM_KEYPOINTS), dtype=np.float32)
    z = np.zeros((total, NUM_KEYPOINTS), dtype=np.float32)
    from ..video import native_stderr_silenced  # MediaPipe's C++ logs a dozen lines at start-up

    with (
        native_stderr_silenced() as stderr,
        _holistic(False, model_complexity) as model,
        progress_bar(progress, stream=stderr) as bar,
    ):
        task = bar.add_task(f"keypoints {path.name}", total=total)
        for start in range(0, total, int(batch_size)):
            indices = list(range(start, min(start + int(batch_size), total)))
            try:
                frames = reader.get_batch(indices).asnumpy()
            except Exception as e:
                raise InputError(
                    f"cannot decode frames {indices[0]}-{indices[-1]} ({type(e).__name__})", path
                ) from None
            for t, frame in zip(indices, frames):
                xy[t], conf[t], z[t] = _frame_arrays(
                    model.process(np.ascontiguousarray(frame)), width, height
                )
                bar.advance(task)
            del frames
    _warn_if_empty(conf, path)
    return PoseTrack(
        xy=xy, conf=conf, fps=fps, width=width, height=height, layout="holistic",
        meta={"z": z, "source": str(path), "extractor": "mediapipe-holistic"},
    )


def extract_images(images: Iterable[np.ndarray], *, tracking: bool = False, fps: float = IMAGE_FPS,
                   model_complexity: int = 1) -> PoseTrack:
    """Holistic keypoints of a sequence of same-sized RGB images (a clip's frame files) as one track.

    One Holistic graph serves them all: building one per image, as `extract_image` does, is
    about 10x slower. `tracking=False` keeps frames independent (static-image mode, the same
    result as `extract_image` on each); `tracking=True` uses MediaPipe's tracking across frames.
    """
    from ..video import native_stderr_silenced  # MediaPipe's C++ logs a dozen lines at start-up

    xys, confs, zs = [], [], []
    size = None
    with native_stderr_silenced(), _holistic(not tracking, model_complexity) as model:
        for k, image in enumerate(images):
            rgb = as_rgb(image, None)
            if size is None:
                size = rgb.shape[:2]
            elif rgb.shape[:2] != size:
                raise InputError(f"image {k} is {rgb.shape[1]}x{rgb.shape[0]}, the first is {size[1]}x{size[0]}")
            xy, conf, z = _frame_arrays(model.process(np.ascontiguousarray(rgb)), size[1], size[0])
            xys.append(xy), confs.append(conf), zs.append(z)
    if size is None:
        raise InputError("no images to extract keypoints from")
    return PoseTrack(
        xy=np.stack(xys), conf=np.stack(confs), fps=fps, width=size[1], height=size[0], layout="holistic",
        meta={"z": np.stack(zs), "extractor": "mediapipe-holistic"},
    )


def extract_file(path: str | Path, progress: bool = True, *, model_complexity: int = 1) -> PoseTrack:
    """Keypoints of an image or video file, chosen by extension."""
    path = Path(path)
    _check_file(path)
    ext = path.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return extract_image(path, model_complexity=model_complexity)
    if ext in VIDEO_EXTENSIONS:
        return extract_video(path, progress=progress, model_complexity=model_complexity)
    raise InputError(
        f"unknown file type {ext or '(no extension)'!r}; images: {', '.join(IMAGE_EXTENSIONS)}; "
        f"videos: {', '.join(VIDEO_EXTENSIONS)}",
        path,
    )


def detect_person(
    image: np.ndarray | str | Path, *, min_conf: float = 0.5, model_complexity: int = 1
) -> PoseTrack | None:
    """The signer in a picture as a one-frame holistic track, or None when no shoulders are seen.

    Retargeting needs the source signer's shoulders to place and scale a motion, so a
    picture without both shoulders above `min_conf` counts as "no person".
    """
    track = extract_image(image, model_complexity=model_complexity)
    if (track.conf[0, [_LEFT_SHOULDER, _RIGHT_SHOULDER]] > min_conf).all():
        return track
    return None
