"""Rendering a clip with a loaded bundle: source encoded once, poses drawn per frame, FPDM
guidance in one batched UNet call, the windowed video sampler, VAE decoding in chunks.

What happens for one clip, in order:

1. The source picture is fitted to the model frame (`geometry.Fit`) and encoded ONCE: its
   stage-1 embedding and its patch tokens (stage 2's cross-attention input) are kept for the
   whole clip.
2. Each frame's pose is drawn at the model resolution when the sampler first asks for that
   frame, embedded by the same encoder and fused with the source embedding, a batch of frames at
   a time; a small cache keeps the frames of the current window only, so memory does not grow
   with the clip's length.
3. The denoiser handed to `sample_video` runs `stage2.forward_branches` in ONE UNet call
   (unconditional + full, batch 2N; all three branches, 3N, with a separate fusion weight) and
   combines them with FPDM's guidance.
4. Finished latents are decoded by the VAE `decode_chunk` frames at a time and mapped back to
   the picture's size; frames are yielded one by one, for a streaming video writer.

Device and dtype are fixed when the renderer is built; the noise is drawn on the CPU from the
seed, so the same seed gives the same video on the same device.
"""

from __future__ import annotations

import itertools

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from ..base.progress import Progress
from ..errors import InputError
from ..geometry import RESIZE_MODES, Fit
from ..pose.draw import draw_pose
from ..pose.track import PoseTrack
from ..models.device import autocast_context
from .settings import Settings
from .timing import timed

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "assets" / "default-model"


def resolve_model(model: str | Path | None) -> Path:
    """The bundle folder to use: `model`, or the bundled default (a clear error when absent)."""
    from ..models.bundle import check_bundle

    if model is None:
        if not (DEFAULT_MODEL / "bundle.json").is_file():
            raise InputError("no bundled model is installed yet; pass --model FOLDER "
                             "(a bundle written by `signgen train` or save_bundle)", DEFAULT_MODEL)
        model = DEFAULT_MODEL
    folder = Path(model)
    check_bundle(folder)  # a bundle, complete, no pickles: fails before any other work
    return folder


def default_dtype(device: torch.device) -> torch.dtype:
    """float16 on CUDA (half the memory, tensor cores), float32 elsewhere (CPU fp16 is slow)."""
    return torch.float16 if device.type == "cuda" else torch.float32


@dataclass
class Source:
    """A clip's source, encoded once: the picture, its fit, and stage 1's outputs for it."""

    image: np.ndarray  # the picture, RGB uint8 [H, W, 3]
    fit: Fit
    embedding: torch.Tensor  # [1, D] stage-1 image embedding
    tokens: torch.Tensor  # [1, N, C] patch tokens for stage 2's cross-attention
    latents: torch.Tensor | None = None  # [1, C, h, w] VAE latents, for a stage 2 that concatenates them


class _PoseConditions:
    """Per-frame conditions, computed once per frame on first use, a batch of frames at a time:
    the pose drawn at the model size, stage 1's fusion embedding, and both as stage 2 encodes
    them (class embedding, pose features), so no denoising step re-encodes a frame.

    Keeps at most `capacity` frames (the oldest indices go first): the sampler moves through the
    clip window by window, so memory is bounded by the window, not by the clip.
    """

    def __init__(self, renderer: "Renderer", xy: np.ndarray, conf: np.ndarray, source: Source,
                 capacity: int) -> None:
        self.renderer, self.xy, self.conf, self.source = renderer, xy, conf, source
        self.capacity = max(1, int(capacity))
        self.cache: dict[int, tuple[torch.Tensor, ...]] = {}

    def _frames(self, frame_index: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        wanted = [int(i) for i in frame_index.tolist()]
        missing = sorted({i for i in wanted if i not in self.cache})
        if missing:
            r = self.renderer
            with timed("pose drawing"):
                poses = r.image_tensor([self.pose_image(i) for i in missing])
            with timed("stage 1"):
                fused = r.fuse(self.source.embedding, poses)
                class_emb, pose_feat = r.encode_frames(fused, poses)
            for j, i in enumerate(missing):
                self.cache[i] = (poses[j], fused[j], class_emb[j], pose_feat[j])
            for old in sorted(self.cache)[: max(0, len(self.cache) - self.capacity)]:
                if old not in wanted:
                    del self.cache[old]
        return [self.cache[i] for i in wanted]

    def __call__(self, frame_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(class embeddings [n, E], pose features [n, C, h, w]) of the frames, as stage 2 takes them."""
        got = self._frames(frame_index)
        return torch.stack([g[2] for g in got]), torch.stack([g[3] for g in got])

    def inputs(self, frame_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pose images [n, 3, H, W], fusion embeddings [n, D]) of the frames, before stage 2."""
        got = self._frames(frame_index)
        return torch.stack([g[0] for g in got]), torch.stack([g[1] for g in got])

    def pose_image(self, t: int) -> np.ndarray:
        fit = self.source.fit
        return draw_pose(self.xy[t], self.conf[t], fit.model_width, fit.model_height)


class Renderer:
    """A loaded bundle ready to render: one device, one dtype, models in eval mode."""

    def __init__(self, bundle, resize: str | None = None) -> None:
        self.bundle = bundle
        self.device, self.dtype = bundle.device, bundle.dtype
        self.model_height, self.model_width = (int(v) for v in bundle.meta.image_size)
        resize = resize or bundle.meta.extra.get("resize", "stretch")
        if resize not in RESIZE_MODES:
            raise InputError(f"resize mode must be one of {', '.join(RESIZE_MODES)}, got {resize!r}")
        self.resize = resize
        self._schedulers: dict[str, object] = {}
        c = bundle.stage2.config
        self.latent_shape = (int(c.latent_channels), *(int(v) for v in c.latent_size))

    @classmethod
    def load(cls, model: str | Path | None = None, device: str | torch.device = "auto",
             dtype: torch.dtype | None = None, resize: str | None = None) -> "Renderer":
        """Load a bundle folder (default: the bundled model) onto the picked device."""
        from ..models.bundle import load_bundle
        from ..models.device import pick_device

        folder = resolve_model(model)
        dev = device if isinstance(device, torch.device) else pick_device(device)
        return cls(load_bundle(folder, dev, dtype or default_dtype(dev)), resize=resize)

    # ---- conditions ------------------------------------------------------------------------

    def fit(self, width: int, height: int) -> Fit:
        return Fit(width, height, self.model_width, self.model_height, self.resize)

    def image_tensor(self, images: Iterable[np.ndarray]) -> torch.Tensor:
        """RGB uint8 images [H, W, 3] -> [B, 3, H, W] in [0, 1] on the device, in the model dtype."""
        arr = np.stack([np.asarray(i) for i in images])
        return torch.from_numpy(arr).to(self.device).permute(0, 3, 1, 2).to(self.dtype) / 255.0

    @torch.no_grad()
    def encode_source(self, image: np.ndarray) -> Source:
        """Fit and encode the source picture once (embedding + tokens in one encoder pass, and
        its VAE latents when stage 2 takes them)."""
        image = np.ascontiguousarray(image)
        fit = self.fit(image.shape[1], image.shape[0])
        x = self.image_tensor([fit.to_model(image)])
        with timed("stage 1"):
            emb, tokens = self.bundle.stage1.encoder.embed_and_tokens(x)
            latents = self.bundle.vae.encode(x).to(self.dtype) if self.bundle.stage2.config.src_latent_channels else None
        return Source(image=image, fit=fit, embedding=emb.to(self.dtype), tokens=tokens.to(self.dtype), latents=latents)

    @torch.no_grad()
    def fuse(self, src_embedding: torch.Tensor, pose_images: torch.Tensor) -> torch.Tensor:
        """Stage 1 for a batch of pose images against one source embedding: [n, D]."""
        pose_emb = self.bundle.stage1.encoder.embed(pose_images).to(self.dtype)
        return self.bundle.stage1.fusion(src_embedding.expand(pose_emb.shape[0], -1), pose_emb).to(self.dtype)

    @torch.no_grad()
    def encode_frames(self, fused: torch.Tensor, poses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage 2's conditioners for a batch of frames: (class embeddings, pose features)."""
        stage2 = self.bundle.stage2
        class_emb = stage2.class_mlp(fused.to(stage2.dtype))
        if not stage2.uses_fusion:
            class_emb = torch.zeros_like(class_emb)
        return class_emb, stage2.pose_embed(poses.to(stage2.dtype))

    def denoiser(self, source: Source, conditions, guidance: float, fusion_guidance: float | None = None,
                 precision: str = "fp32"):
        """The sampler's denoiser: the guidance branches of nonzero weight in one stage-2 call,
        summed with their weights (`guidance.branch_weights`): one branch at w = 1, two with one
        weight, three with a separate `fusion_guidance`.

        `conditions(frame_index)` gives the frames' encoded conditions (`_PoseConditions`); the
        source's tokens are projected here, once per clip. `precision` "bf16" / "fp16" runs the
        UNet under autocast (weights and latents stay as they are).
        """
        from .guidance import GuidedDenoiser, branch_weights

        stage2 = self.bundle.stage2
        weights = branch_weights(guidance, fusion_guidance, stage2.uses_fusion)
        with torch.no_grad():
            tokens = stage2.token_proj(source.tokens.to(stage2.dtype))
        autocast = autocast_context(self.device, precision)

        @torch.no_grad()
        def branches(x_t: torch.Tensor, t: torch.Tensor, frame_index: torch.Tensor, names: tuple[str, ...]):
            class_emb, pose_feat = conditions(frame_index)
            with timed("unet"), autocast:
                out = stage2.forward_encoded(x_t.to(self.dtype), t, class_emb, tokens, pose_feat, names,
                                             src_latents=source.latents)
            return tuple(o.float() for o in out)

        return GuidedDenoiser(branches, weights)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, precision: str = "fp32") -> np.ndarray:
        """Latents [n, C, h, w] -> RGB uint8 frames [n, H, W, 3] in the model frame (the decoder
        under autocast in bf16 / fp16: on the bundled model 0.3 of 255 from fp32 on average)."""
        with timed("vae decode"), autocast_context(self.device, precision):
            x = self.bundle.vae.decode(latents.to(self.device, self.dtype), chunk_size=latents.shape[0])
            return (x.float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    # ---- rendering -------------------------------------------------------------------------

    def scheduler(self, settings: Settings):
        """The diffusers scheduler of `settings.sampler`, built from the bundle's noise schedule
        (one per sampler name, kept: the sampler copies it per window)."""
        from .schedulers import make_sampler

        name = settings.sampler
        if name not in self._schedulers:
            self._schedulers[name] = make_sampler(name, self.bundle.scheduler.config)
        return self._schedulers[name]

    def precision(self, settings: Settings) -> str:
        """The UNet's precision for `settings.precision` on this device ("auto": see
        `models.device.auto_precision`)."""
        from ..models.device import auto_precision

        if settings.precision != "auto":
            return settings.precision
        return auto_precision(self.device, self.dtype)

    def _model_points(self, track: PoseTrack, source: Source) -> tuple[np.ndarray, np.ndarray]:
        t = track.canonical()
        if (t.width, t.height) != (source.fit.width, source.fit.height):
            raise InputError(f"the track is for {t.width}x{t.height} frames, the source picture is "
                             f"{source.fit.width}x{source.fit.height}; map it first (retarget)")
        return source.fit.points_to_model(t.xy), t.conf

    def render_video(self, image: np.ndarray, track: PoseTrack, settings: Settings | None = None,
                     progress: Progress | None = None,
                     source_pose: tuple[np.ndarray, np.ndarray] | None = None) -> Iterator[np.ndarray]:
        """Frames (RGB uint8, the picture's size) of `image`'s signer doing `track`, one at a time.

        `track` must be in the picture's pixels (see `signgen.pose.retarget`); so must
        `source_pose` (xy [K, 2], conf [K], canonical), the picture's own pose, which
        `settings.keep_static` needs. Arguments are checked here; the work happens as the frames
        are pulled.
        """
        from .sampler import sample_video

        settings = (settings or Settings()).for_model(self.bundle.meta)
        if track.num_frames < 1:
            raise InputError("the motion has no frames")
        source = self.encode_source(image)
        xy, conf = self._model_points(track, source)
        blend = self._static_blend(source, track, source_pose) if settings.keep_static else None
        conditions = _PoseConditions(self, xy, conf, source, capacity=settings.window + settings.overlap)
        denoiser = self.denoiser(source, conditions, settings.guidance, settings.fusion_guidance,
                                 self.precision(settings))
        if blend is not None:
            denoiser = blend.denoiser(denoiser)
        latents = sample_video(denoiser, track.num_frames, self.latent_shape, self.scheduler(settings), settings,
                               progress=progress, dtype=torch.float32, device=self.device)
        return self._decoded(latents, source, track.num_frames, settings.decode_chunk, progress,
                             self.precision(settings), blend)

    def _static_blend(self, source: Source, track: PoseTrack, source_pose: tuple[np.ndarray, np.ndarray] | None):
        """`static.StaticBlend` for this clip (keep_static): poses in the picture's pixels."""
        from .static import StaticBlend

        if source_pose is None:
            raise InputError("keep_static needs the source picture's pose (found by retargeting, "
                             "or given with the job); render without it or retarget the motion")
        t = track.canonical()
        src_xy, src_conf = (np.asarray(a, np.float32) for a in source_pose)
        if src_xy.shape != t.xy.shape[1:] or src_conf.shape != t.conf.shape[1:]:
            raise InputError(f"the source pose has {src_xy.shape[0]} keypoints, the motion {t.xy.shape[1]}")
        known = source.latents
        if known is None:
            with torch.no_grad():
                known = self.bundle.vae.encode(self.image_tensor([source.fit.to_model(source.image)]))
        sched, fit = self.bundle.scheduler, source.fit
        return StaticBlend(src_xy, src_conf, t.xy, t.conf, (fit.width, fit.height), (fit.model_width, fit.model_height),
                           fit.points_to_model, known, sched.alphas_cumprod, sched.config.prediction_type)

    def _decoded(self, latents: Iterator[torch.Tensor], source: Source, total: int, chunk: int,
                 progress: Progress | None, precision: str = "fp32", blend=None) -> Iterator[np.ndarray]:
        fit = source.fit
        done, pending = 0, []
        for z in itertools.chain(latents, [None]):  # None: flush the last, shorter chunk
            if z is not None:
                pending.append(z)
            if pending and (len(pending) == chunk or z is None):
                for frame in self.decode(torch.stack(pending), precision):
                    with timed("resize"):
                        frame = fit.from_model(frame)
                    if blend is not None:
                        frame = blend.composite(frame, source.image, done)
                    done += 1
                    if progress is not None:
                        progress("frames", done, total)
                    yield frame
                pending = []

    def synthesize(self, image: np.ndarray, pose: PoseTrack, num_samples: int = 1,
                   settings: Settings | None = None, progress: Progress | None = None) -> list[np.ndarray]:
        """`num_samples` independent pictures of `image`'s person in the one-frame `pose`
        (the DeepFashion single-image path), each the picture's size."""
        from .sampler import sample_image

        settings = (settings or Settings()).for_model(self.bundle.meta)
        if pose.num_frames != 1:
            raise InputError(f"synthesize needs one pose, got a track of {pose.num_frames} frames")
        if settings.keep_static:
            raise InputError("keep_static is for videos (render); synthesize redraws the whole picture")
        source = self.encode_source(image)
        xy, conf = self._model_points(pose, source)
        conditions = _PoseConditions(self, xy, conf, source, capacity=1)
        denoiser = self.denoiser(source, conditions, settings.guidance, settings.fusion_guidance,
                                 self.precision(settings))
        latents = sample_image(denoiser, self.latent_shape, self.scheduler(settings), settings,
                               num_samples=num_samples, progress=progress, dtype=torch.float32, device=self.device)
        return list(self._decoded(iter(latents), source, num_samples, settings.decode_chunk, None,
                                  self.precision(settings)))


def side_by_side(source: np.ndarray, pose: np.ndarray, result: np.ndarray) -> np.ndarray:
    """source | drawn pose | result, side by side (all the picture's size): width 3x."""
    return np.ascontiguousarray(np.concatenate([source, pose, result], axis=1))


def side_by_side_frames(image: np.ndarray, track: PoseTrack, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Each rendered frame as source | the drawn pose of that frame | result."""
    for t, frame in enumerate(frames):
        drawn = draw_pose(track.xy[t], track.conf[t], track.width, track.height)
        yield side_by_side(image, drawn, frame)
