"""The web page in a real browser: Debian's headless Chromium, driven by Playwright, against
`signgen app` on a loopback port with a tiny random bundle. Type a sentence, render, get a
video with the right number of frames and its .pose; a bad upload shows the one-line error."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the app extra is not installed (pip install -e '.[app]')")
pytest.importorskip("playwright", reason="playwright is not installed (pip install -e '.[test]')")

from signgen.app.browser import CHROMIUM  # noqa: E402

if not Path(CHROMIUM).is_file():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)

RENDER_TIMEOUT_MS = 300_000  # a 2-core CI machine shared with other work
STEP_TIMEOUT_MS = 120_000  # any other step (an upload showing, a click): Playwright's 30 s was too short there


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def running(bundle):
    from signgen.app import launch

    app = launch(bundle, port=free_port(), block=False, device="cpu")
    yield app
    app.close()


def test_type_a_sentence_get_the_video_and_its_track(running, tmp_path):
    from signgen.app.browser import open_page
    from signgen.pose.io import read_track
    from signgen.pose.text import text_to_track
    from signgen.video import video_info

    expected = text_to_track("Ja!", "de", "fingerspelling", "gsg").num_frames
    with open_page(running.url, timeout_ms=STEP_TIMEOUT_MS) as page:
        page.locator("#text textarea").fill("Ja!")
        page.locator("#render").click()
        page.locator("#result video").wait_for(timeout=RENDER_TIMEOUT_MS)
        status = page.locator("#status textarea").input_value()
        assert status == "rendered signgen.mp4; glosses ja; fingerspelled 1/1: ja"
        video = page.request.get(page.locator("#result video").get_attribute("src"))
        assert video.ok
        (tmp_path / "v.mp4").write_bytes(video.body())
        links = page.locator("#downloads a")
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        pose_href = next(h for h in hrefs if h and h.endswith(".pose"))
        (tmp_path / "m.pose").write_bytes(page.request.get(pose_href).body())
    frames, _, w, h = video_info(tmp_path / "v.mp4")
    assert frames == expected and (w, h) == (256, 320)  # the example signer's size
    track = read_track(tmp_path / "m.pose")
    assert track.layout == "holistic" and track.num_frames == expected


def test_keep_static_keeps_the_picture_s_background(running, tmp_path):
    """The "keep what does not move" box: the video's background is the example picture's."""
    import imageio.v3 as iio
    import numpy as np

    from signgen.app.browser import open_page
    from signgen.video import read_video

    with open_page(running.url, timeout_ms=STEP_TIMEOUT_MS) as page:
        page.locator("#text textarea").fill("Ja!")
        page.get_by_text("Settings").first.click()
        page.locator("#keep-static input[type=checkbox]").check()
        page.locator("#render").click()
        page.locator("#result video").wait_for(timeout=RENDER_TIMEOUT_MS)
        assert page.locator("#status textarea").input_value().startswith("rendered signgen.mp4")
        (tmp_path / "v.mp4").write_bytes(page.request.get(page.locator("#result video").get_attribute("src")).body())
    picture = iio.imread(Path(__file__).resolve().parent.parent / "examples" / "signer-1.png")[..., :3].astype(int)
    frames, _ = read_video(tmp_path / "v.mp4")
    corner = (slice(0, 24), slice(0, 24))  # the flat background, far from the arms
    errors = [np.abs(f[corner].astype(int) - picture[corner]).mean() for f in frames]
    assert max(errors) < 6, errors  # the codec's error only: a random model's frames are noise there


def test_a_bad_upload_shows_the_one_line_error(running, tmp_path):
    from signgen.app.browser import open_page

    bad = tmp_path / "bad.pose"
    bad.write_bytes(b"this is not a pose file")
    with open_page(running.url, timeout_ms=STEP_TIMEOUT_MS) as page:
        page.get_by_role("tab", name="Track file").click()
        page.locator("#track-file input[type=file]").set_input_files(str(bad))
        page.get_by_text("bad.pose").first.wait_for()
        page.locator("#render").click()
        status = page.locator("#status textarea")
        page.wait_for_function("() => document.querySelector('#status textarea').value.startsWith('error:')",
                               timeout=RENDER_TIMEOUT_MS)
        message = status.input_value()
    assert message.startswith("error: bad.pose: not a readable .pose file"), message
    assert "\n" not in message and "Traceback" not in message and str(tmp_path) not in message


def test_the_app_removes_its_files_when_closed(bundle):
    from signgen.app import launch

    app = launch(bundle, port=free_port(), block=False, device="cpu")
    workdir = app.workdir
    assert workdir.is_dir() and os.environ["GRADIO_TEMP_DIR"].startswith(str(workdir))
    app.close()
    assert not workdir.exists() and not os.environ.get("GRADIO_TEMP_DIR", "").startswith(str(workdir))
