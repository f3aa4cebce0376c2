"""The Gradio page: a signer picture + a motion (text, glosses, a track file, a driving video) ->
the video, shown and downloadable, and the motion as a `.pose` file.

Why it is shaped like this:
- One render at a time per process (the queue's concurrency is 1): two visitors on a small
  machine would otherwise both crawl. Others wait in the queue and see their place in it.
- Uploads are size-limited (`max_upload_mb`) and live, with every rendered file, in one
  temporary folder of this process, which gradio prunes while running (`delete_cache`) and
  which is removed when the app closes.
- A mistake is the CLI's one-line message, shown in the status box, with the upload's own
  file name instead of the temporary path; anything unexpected is one line too, never a
  traceback (the server log keeps it).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import signgen

log = logging.getLogger(__name__)

TEXT, GLOSSES, TRACK, VIDEO = "Text", "Glosses", "Track file", "Driving video"
TRACK_TYPES = [".pose", ".json", ".npz", ".npy", ".zip"]
VIDEO_TYPES = [".mp4", ".webm", ".avi", ".mov", ".mkv"]
NOISE = ["shared", "independent", "mixed"]
MAX_UPLOAD_MB = 50
CACHE_PRUNE = (600, 3600)  # every 10 minutes, files older than an hour
EXAMPLES = Path(signgen.__file__).resolve().parents[1] / "examples"  # a source checkout (pip install -e)


@dataclass
class App:
    """A running page: its address, and how to stop it (which also removes its files)."""

    url: str
    blocks: Any
    workdir: Path
    _env: dict = field(default_factory=dict)

    def close(self) -> None:
        self.blocks.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
        for k, v in self._env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _examples() -> list[str]:
    return [str(p) for p in sorted(EXAMPLES.glob("signer-*.png"))] if EXAMPLES.is_dir() else []


def _one_line(error: BaseException, uploads: list[str | None]) -> str:
    """The message a user can act on: InputError as the CLI prints it, upload paths shortened."""
    if isinstance(error, signgen.InputError):
        msg = str(error)
    elif isinstance(error, FileNotFoundError):
        msg = f"{error.filename}: no such file"
    else:
        log.exception("render failed")
        msg = f"internal error ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
    for path in uploads:
        if path:
            msg = msg.replace(str(path), Path(path).name)
    return "error: " + " ".join(msg.split())


def motion(mode: str, text: str, spoken: str, glosses: str, lexicon: str, signed: str, fingerspell: bool,
           track_file: str | None, video_file: str | None) -> dict[str, Any]:
    """The keyword arguments of `signgen.render` that give the chosen motion."""
    lex = lexicon or "fingerspelling"
    if mode == TEXT:
        return dict(text=text or "", language=spoken, signed_language=signed or None, lexicon=lex,
                    fingerspell_unknown=fingerspell)
    if mode == GLOSSES:
        if not (glosses or "").strip():
            raise signgen.InputError("type the glosses to sign, e.g. H A L L O")
        return dict(glosses=glosses, language=signed or None, lexicon=lex, fingerspell_unknown=fingerspell)
    upload = track_file if mode == TRACK else video_file
    if not upload:
        raise signgen.InputError(f"upload a {'track file' if mode == TRACK else 'driving video'} first")
    return dict(poses=upload)


def build(model: str | Path | None = None, *, workdir: str | Path, lexicons: list[str] | None = None,
          device: str = "auto"):
    """The page as a `gr.Blocks` (not launched). `lexicons` are folders offered beside the
    built-in fingerspelling lexicon; rendered files go under `workdir`."""
    import gradio as gr

    workdir = Path(workdir)
    choices = ["fingerspelling", *[str(x) for x in (lexicons or [])]]
    examples = _examples()

    def languages(lexicon: str):
        try:
            langs = signgen.lexicon_languages(lexicon or "fingerspelling")
        except signgen.InputError as e:
            return gr.update(choices=[], value=None), _one_line(e, [])
        value = "gsg" if "gsg" in langs else (langs[0] if langs else None)
        return gr.update(choices=langs, value=value), ""

    def render(picture, mode, text, spoken, glosses, lexicon, signed, fingerspell, track_file, video_file,
               steps, seed, noise, smoothing, side_by_side, retarget, keep_static, progress=gr.Progress()):
        uploads = [picture, track_file, video_file]
        try:
            if not picture:
                raise signgen.InputError("pick or upload a picture of the signer first")
            kwargs = motion(mode, text, spoken, glosses, lexicon, signed, fingerspell, track_file, video_file)
            note = ""
            if mode == TEXT:  # say which words the lexicon has before the long part
                note = signgen.text_to_glosses(kwargs["text"], spoken or "", kwargs["lexicon"], signed or None,
                                               fingerspell_unknown=fingerspell).summary()
            out = workdir / uuid.uuid4().hex
            out.mkdir(parents=True)
            video, track = out / "signgen.mp4", out / "signgen-motion.pose"

            def tick(what: str, done: int, total: int) -> None:
                progress((done, total), desc="denoising steps" if what == "steps" else "frames")

            signgen.render(picture, **kwargs, output=video, track_output=track, model=model, device=device,
                           steps=int(steps or 0) or None, seed=int(seed or 0), noise=noise, smoothing=float(smoothing),
                           side_by_side=bool(side_by_side), retarget=bool(retarget), progress=tick,
                           keep_static=bool(keep_static))
            status = f"rendered {video.name}" + (f"; {note}" if note else "")
            return str(video), [str(video), str(track)], status
        except Exception as e:  # noqa: BLE001 - the page shows one line, never a traceback
            return None, None, _one_line(e, uploads)

    with gr.Blocks(title="signgen", analytics_enabled=False, delete_cache=CACHE_PRUNE) as page:
        gr.Markdown("## signgen: a picture of a signer + a motion = a video of that signer signing")
        mode = gr.State(TEXT)
        with gr.Row():
            with gr.Column():
                picture = gr.Image(label="Signer picture", type="filepath", sources=["upload"],
                                   value=examples[0] if examples else None, elem_id="picture", height=256)
                if examples:
                    gr.Examples(examples, inputs=picture, label="Example signers")
            with gr.Column():
                with gr.Tabs():
                    with gr.Tab(TEXT) as t_text:
                        text = gr.Textbox(label="Text", placeholder="Hallo, wie geht es dir?", elem_id="text")
                        spoken = gr.Dropdown(signgen.spoken_languages(), value="de", label="Spoken language",
                                             allow_custom_value=True)
                    with gr.Tab(GLOSSES) as t_glosses:
                        glosses = gr.Textbox(label="Glosses", placeholder="H A L L O", elem_id="glosses")
                    with gr.Tab(TRACK) as t_track:
                        track_file = gr.File(label="Keypoint track (.pose, signgen .json, .npz, OpenPose .zip)",
                                             file_types=TRACK_TYPES, type="filepath", elem_id="track-file")
                    with gr.Tab(VIDEO) as t_video:
                        video_file = gr.File(label="Driving video (keypoints extracted with MediaPipe)",
                                             file_types=VIDEO_TYPES, type="filepath", elem_id="driving-video")
                with gr.Row():
                    lexicon = gr.Dropdown(choices, value=choices[0], label="Lexicon")
                    signed = gr.Dropdown(signgen.lexicon_languages("fingerspelling"), value="gsg",
                                         label="Signed language")
                fingerspell = gr.Checkbox(False, label="Fingerspell what the lexicon lacks")
                with gr.Accordion("Settings", open=False):
                    steps = gr.Slider(0, 50, value=0, step=1, label="Denoising steps (0 = the model's)")
                    seed = gr.Number(0, precision=0, label="Seed")
                    noise = gr.Dropdown(NOISE, value="shared", label="Noise")
                    smoothing = gr.Slider(0, 1, value=0.5, step=0.05, label="Temporal smoothing")
                    side_by_side = gr.Checkbox(False, label="Side by side (source | pose | result)")
                    retarget = gr.Checkbox(True, label="Fit the motion to the signer in the picture")
                    keep_static = gr.Checkbox(False, label="Keep what does not move (generate only arms, hands "
                                              "and a moving face)", elem_id="keep-static")
                go = gr.Button("Render", variant="primary", elem_id="render")
            with gr.Column():
                result = gr.Video(label="Video", elem_id="result", interactive=False)
                files = gr.File(label="Downloads: the video and the motion (.pose)", file_count="multiple",
                                interactive=False, elem_id="downloads")
                status = gr.Textbox(label="Status", interactive=False, elem_id="status", lines=2)
        for tab, name in ((t_text, TEXT), (t_glosses, GLOSSES), (t_track, TRACK), (t_video, VIDEO)):
            tab.select(lambda name=name: name, None, mode)
        lexicon.change(languages, lexicon, [signed, status])
        go.click(render, [picture, mode, text, spoken, glosses, lexicon, signed, fingerspell, track_file,
                          video_file, steps, seed, noise, smoothing, side_by_side, retarget, keep_static],
                 [result, files, status])
    return page


def launch(model: str | Path | None = None, *, port: int = 7860, host: str = "127.0.0.1", share: bool = False,
           lexicons: list[str] | None = None, max_upload_mb: int = MAX_UPLOAD_MB, device: str = "auto",
           block: bool = True) -> App:
    """Serve the page at http://host:port (one render at a time). `block=False` returns at once
    with the running `App` (tests, notebooks); `App.close()` stops it and removes its files."""
    workdir = Path(tempfile.mkdtemp(prefix="signgen-app-"))
    env = {k: os.environ.get(k) for k in ("GRADIO_TEMP_DIR", "GRADIO_ANALYTICS_ENABLED")}
    os.environ["GRADIO_TEMP_DIR"] = str(workdir / "uploads")  # gradio keeps uploads here
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # offline: no calls home
    page = build(model, workdir=workdir / "renders", lexicons=lexicons, device=device)
    page.queue(default_concurrency_limit=1, max_size=32)
    app = App("", page, workdir, env)
    try:
        _, url, _ = page.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=True,
                                max_file_size=f"{int(max_upload_mb)}mb", allowed_paths=[str(workdir)],
                                ssr_mode=False, quiet=True, show_error=False, footer_links=[])
    except BaseException:
        app.close()
        raise
    app.url = url or f"http://{host}:{port}/"
    if block:
        try:
            page.block_thread()
        finally:
            app.close()
    return app
