"""Text -> glosses (spoken-to-signed's offline glosser) -> lexicon, with the coverage said plainly;
`pose from-text` and `render --text` from the CLI, `text=` from Python."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from signgen.errors import InputError
from signgen.pose.io import read_track
from signgen.pose.lexicon import LexiconEntry, write_lexicon
from signgen.pose.text import FOUND, SPELLED, text_to_glosses, text_to_track


@pytest.fixture
def word_lexicon(tmp_path, real_pose_file):
    """A gsg lexicon of two signs (real MediaPipe clips): HALLO (word "hallo") and GEHEN (no word)."""
    folder = tmp_path / "words"
    folder.mkdir()
    shutil.copy(real_pose_file, folder / "a.pose")
    write_lexicon([LexiconEntry("a.pose", "de", "gsg", 0, 0, "hallo", "HALLO"),
                   LexiconEntry("a.pose", "de", "gsg", 0, 0, "", "GEHEN")], folder)
    return folder


def test_the_fingerspelling_lexicon_spells_every_word():
    found = text_to_glosses("Hallo, wie geht es dir?", "de", "fingerspelling", "gsg")
    assert found.glosses == ["hallo", "wie", "geht", "es", "dir"]  # punctuation dropped, the words spelled
    assert all(t.how == SPELLED for t in found.tokens)
    assert found.summary() == "glosses hallo wie geht es dir; fingerspelled 5/5: hallo, wie, geht, es, dir"


def test_words_are_found_by_word_or_lemma_and_the_rest_spelled_only_when_asked(word_lexicon):
    with pytest.raises(InputError) as e:
        text_to_glosses("Hallo, wie geht es?", "de", word_lexicon, "gsg")
    msg = str(e.value)
    assert "\n" not in msg
    assert "2 of 4 words are not in the gsg lexicon: wie, es (found: hallo, geht)" in msg
    assert "--fingerspell-unknown" in msg
    found = text_to_glosses("Hallo, wie geht es?", "de", word_lexicon, fingerspell_unknown=True)
    assert [(t.word, t.gloss, t.how) for t in found.tokens] == [
        ("hallo", "HALLO", FOUND), ("wie", "wie", SPELLED), ("geht", "GEHEN", FOUND), ("es", "es", SPELLED)]
    assert found.summary() == ("glosses HALLO wie GEHEN es; found in the lexicon 2/4: hallo -> HALLO, "
                               "geht -> GEHEN; fingerspelled 2/4: wie, es")


def test_text_to_track_signs_found_words_with_their_clips(word_lexicon):
    track = text_to_track("Hallo wie", "de", word_lexicon, fingerspell_unknown=True, fps=25)
    assert [s[0] for s in track.meta["segments"]] == ["HALLO", "wie"]
    assert [c[0] for c in track.meta["clips"]] == ["HALLO", "W", "I", "E"]
    assert track.meta["coverage"].found[0].word == "hallo"


@pytest.mark.parametrize("text, language, signed, expect", [
    ("   ", "de", "gsg", "the text is empty"),
    ("?!", "de", "gsg", "no words in the text"),
    ("Hallo", "", "gsg", "give the spoken language"),
    ("Hallo", "de", None, "give the signed language (--signed-language)"),
    ("Hallo", "de", "xyz", "signed language 'xyz' is not in the lexicon"),
    ("x" * 3000, "de", "gsg", "at most 2000"),
])
def test_bad_text_input_is_one_line(text, language, signed, expect):
    with pytest.raises(InputError) as e:
        text_to_glosses(text, language, "fingerspelling", signed)
    assert expect in str(e.value) and "\n" not in str(e.value)


def test_pose_from_text_cli_writes_a_holistic_pose_and_says_what_was_spelled(cli, tmp_path):
    out = tmp_path / "hallo.pose"
    code, stdout, err = cli("pose", "from-text", "Hallo, wie geht es dir?", "--language", "de",
                            "--signed-language", "gsg", "-o", out)
    assert code == 0, err
    assert "fingerspelled 5/5: hallo, wie, geht, es, dir" in stdout
    assert "holistic (553 points)" in stdout
    track = read_track(out)
    assert track.layout == "holistic" and track.num_frames > 100
    code, _, err = cli("pose", "from-text", "Hallo", "--language", "de", "-o", tmp_path / "x.json")
    assert code == 2 and "--signed-language" in err and len(err.strip().splitlines()) == 1


def test_render_text_from_cli_and_python(cli, bundle, tmp_path, word_lexicon):
    import signgen
    from PIL import Image

    from signgen.video import video_info

    src = tmp_path / "s.png"
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(src)
    out = tmp_path / "t.mp4"
    code, stdout, err = cli("render", "--source", src, "--text", "Hallo", "--language", "de", "--lexicon",
                            word_lexicon, "--model", bundle, "--no-retarget", "--fps", "5", "-q", "-o", out)
    assert code == 0, err
    assert "found in the lexicon 1/1: hallo -> HALLO" in stdout
    n = video_info(out)[0]
    frames = list(signgen.render(src, text="Hallo", language="de", lexicon=str(word_lexicon), model=bundle,
                                 retarget=False, fps=5))
    assert len(frames) == n > 0
    code, _, err = cli("render", "--source", src, "--text", "Hallo du", "--language", "de", "--lexicon",
                       word_lexicon, "--model", bundle, "-o", tmp_path / "u.mp4")
    assert code == 2 and "not in the gsg lexicon: du" in err and not (tmp_path / "u.mp4").exists()
    code, _, err = cli("render", "--source", src, "--text", "Hallo", "--glosses", "A", "-o", tmp_path / "v.mp4")
    assert code == 2 and "give one motion, not --glosses and --text" in err
