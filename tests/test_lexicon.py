"""Lexicon: spoken-to-signed index.csv layout, lookups, path safety, writing."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from signgen.errors import InputError
from signgen.pose.io import read_pose
from signgen.pose.lexicon import Lexicon, LexiconEntry, crop_frames, write_lexicon

HEADER = "path,spoken_language,signed_language,start,end,words,glosses,priority\n"


def _gsg_file(fingerspelling_dir: Path, letter: str) -> Path:
    with open(fingerspelling_dir / "index.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["signed_language"] == "gsg" and row["glosses"] == letter:
                return fingerspelling_dir / row["path"]
    raise AssertionError(letter)


@pytest.fixture
def small_lexicon(tmp_path: Path, fingerspelling_dir: Path) -> Path:
    """HAUS twice (real A and real B tracks, B preferred by priority), plus a few look-alikes."""
    for name, letter in (("a.pose", "A"), ("b.pose", "B"), ("c.pose", "C")):
        shutil.copy(_gsg_file(fingerspelling_dir, letter), tmp_path / name)
    rows = [
        LexiconEntry("a.pose", "de", "gsg", 0, 0, "Haus", "HAUS", priority=1),
        LexiconEntry("b.pose", "de", "gsg", 0, 0, "Haus", "HAUS", priority=0),
        LexiconEntry("c.pose", "de", "gsg", 0, 0, "Maus", "MAUS", 0),
        LexiconEntry("c.pose", "de", "gsg", 0, 0, "Laus", "LAUS", 0),
        LexiconEntry("c.pose", "de", "gsg", 0, 0, "Baum", "BAUM", 0),
        LexiconEntry("c.pose", "de", "gsg", 0, 0, "Bär", "BÄR", 0),
    ]
    write_lexicon(rows, tmp_path)
    return tmp_path


def test_builtin_fingerspelling_lexicon(fingerspelling_dir: Path) -> None:
    lex = Lexicon.open("fingerspelling")
    assert lex.folder == fingerspelling_dir
    assert {"gsg", "ase", "fsl"} <= set(lex.languages())
    letters = lex.glosses("gsg")
    assert {"A", "Z", "ä", "ß"} <= set(letters) and len(letters) == 30
    assert Lexicon.open("fs").languages() == lex.languages()


def test_lookup_is_case_insensitive_and_reads_the_real_file(real_pose_file: Path) -> None:
    lex = Lexicon.open("fingerspelling")
    a = lex.lookup("a", "gsg")
    ref = read_pose(real_pose_file)
    assert a.layout == "holistic" and a.num_frames == ref.num_frames  # end ms lies past the file: clamped
    np.testing.assert_array_equal(a.xy, ref.xy)
    upper, lower, decomposed = lex.lookup("Ä", "gsg"), lex.lookup("ä", "gsg"), lex.lookup("a\u0308", "gsg")
    np.testing.assert_array_equal(upper.xy, lower.xy)
    np.testing.assert_array_equal(upper.xy, decomposed.xy)
    assert not np.array_equal(upper.xy[: a.num_frames], a.xy[: upper.num_frames])


def test_lower_priority_wins(small_lexicon: Path) -> None:
    lex = Lexicon.open(small_lexicon)
    assert lex.entry("haus", "gsg").path == "b.pose"
    np.testing.assert_array_equal(lex.lookup("Haus", "gsg").xy, read_pose(small_lexicon / "b.pose").xy)
    # swap the priorities: the other file wins
    rows = [r if r.glosses != "HAUS" else LexiconEntry(**{**r.__dict__, "priority": 1 - r.priority})
            for r in lex.entries]
    write_lexicon(rows, small_lexicon)
    np.testing.assert_array_equal(
        Lexicon.open(small_lexicon).lookup("HAUS", "gsg").xy, read_pose(small_lexicon / "a.pose").xy
    )


def test_write_lexicon_round_trips_without_temp_files(small_lexicon: Path) -> None:
    lex = Lexicon.open(small_lexicon)
    assert len(lex.entries) == 6 and lex.entries[5].glosses == "BÄR" and lex.entries[0].priority == 1
    assert sorted(p.name for p in small_lexicon.iterdir()) == ["a.pose", "b.pose", "c.pose", "index.csv"]
    assert lex.languages() == ["gsg"] and lex.glosses("gsg") == ["BAUM", "BÄR", "HAUS", "LAUS", "MAUS"]
    # a single-language lexicon needs no language
    assert lex.lookup("bär", None).num_frames > 0


def test_start_end_milliseconds_crop(tmp_path: Path, real_pose_file: Path) -> None:
    shutil.copy(real_pose_file, tmp_path / "a.pose")
    full = read_pose(tmp_path / "a.pose")
    (tmp_path / "index.csv").write_text(HEADER + "a.pose,de,gsg,100,400,x,X,0\n", encoding="utf-8")
    clip = Lexicon.open(tmp_path).lookup("x", "gsg")
    first, stop = crop_frames(100, 400, full.fps, full.num_frames)
    assert (first, stop) == (round(0.1 * full.fps), round(0.4 * full.fps))
    np.testing.assert_array_equal(clip.xy, full.xy[first:stop])
    assert crop_frames(0, 0, 30.0, 22) == (0, 22) and crop_frames(0, 99999, 30.0, 22) == (0, 22)


@pytest.mark.parametrize("bad_path, words", [
    ("../outside.pose", "leaves the lexicon folder"),
    ("sub/../../outside.pose", "leaves the lexicon folder"),
    ("/etc/passwd", "absolute path"),
])
def test_row_escaping_the_folder_is_refused(tmp_path: Path, bad_path: str, words: str) -> None:
    lex_dir = tmp_path / "lex"
    lex_dir.mkdir()
    (lex_dir / "index.csv").write_text(
        HEADER + "ok.pose,de,gsg,0,0,a,A,0\n" + f"{bad_path},de,gsg,0,0,b,EVIL,0\n", encoding="utf-8"
    )
    with pytest.raises(InputError, match=rf"index.csv: index.csv line 3 \(gloss 'EVIL'\): .*{words}"):
        Lexicon.open(lex_dir)


def test_symlink_resolving_outside_is_refused(tmp_path: Path, real_pose_file: Path) -> None:
    lex_dir = tmp_path / "lex"
    lex_dir.mkdir()
    outside = tmp_path / "secret.pose"
    shutil.copy(real_pose_file, outside)
    os.symlink(outside, lex_dir / "link.pose")
    (lex_dir / "index.csv").write_text(HEADER + "link.pose,de,gsg,0,0,a,A,0\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 2 .*'link.pose' leaves the lexicon folder"):
        Lexicon.open(lex_dir)


def test_write_lexicon_refuses_escaping_paths(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="leaves the lexicon folder"):
        write_lexicon([LexiconEntry("../x.pose", "de", "gsg", glosses="X")], tmp_path)
    assert not (tmp_path / "index.csv").exists()


def test_missing_index_and_missing_columns(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no index.csv"):
        Lexicon.open(tmp_path)
    with pytest.raises(InputError, match="no such lexicon folder"):
        Lexicon.open(tmp_path / "nope")
    (tmp_path / "index.csv").write_text("path,signed_language,glosses\na.pose,gsg,A\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"index.csv: index.csv lacks column\(s\) spoken_language, start, end, words, priority"):
        Lexicon.open(tmp_path)
    (tmp_path / "index.csv").write_text(HEADER + "a.pose,de,gsg,zero,0,a,A,0\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 2 .*start 'zero' is not a number"):
        Lexicon.open(tmp_path)


@pytest.mark.parametrize(
    "row, fields",
    [
        ("a.pose,de,gsg,0,0,A,A,0,9\n", 9),  # a stray comma
        ('a.pose,de,gsg,0,0,A,A,0\n"b.pose,de,gsg,0,0,B,B,0\n', 1),  # an unclosed quote eats the rest
    ],
)
def test_rows_with_the_wrong_field_count_say_so(tmp_path: Path, row: str, fields: int) -> None:
    """An unclosed quote used to surface as "empty signed_language" on a row that has one."""
    (tmp_path / "index.csv").write_text(HEADER + row, encoding="utf-8")
    with pytest.raises(InputError, match=rf"index.csv line \d has {fields} fields, the header has 8"):
        Lexicon.open(tmp_path)


def test_a_file_given_as_lexicon_folder(tmp_path: Path) -> None:
    (tmp_path / "lex.csv").write_text(HEADER, encoding="utf-8")
    with pytest.raises(InputError, match="lex.csv: is a file, not a lexicon folder"):
        Lexicon.open(tmp_path / "lex.csv")


def test_missing_pose_file_reported_on_lookup(tmp_path: Path) -> None:
    (tmp_path / "index.csv").write_text(HEADER + "gone.pose,de,gsg,0,0,a,A,0\n", encoding="utf-8")
    lex = Lexicon.open(tmp_path)  # opening is fine: files are read lazily
    with pytest.raises(InputError, match=r"gone.pose: pose file for gloss 'a' \(gsg\) is missing"):
        lex.lookup("a", "gsg")


def test_unknown_gloss_lists_close_matches(small_lexicon: Path) -> None:
    lex = Lexicon.open(small_lexicon)
    with pytest.raises(InputError) as e:
        lex.lookup("HAUSE", "gsg")
    msg = str(e.value)
    assert "'HAUSE' is not in the gsg lexicon; close matches: HAUS" in msg
    assert {"MAUS", "LAUS"} <= set(msg.split("close matches: ")[1].split(", "))
    with pytest.raises(InputError, match="close matches: Q"):
        Lexicon.open("fs").lookup("QQ", "gsg")
    with pytest.raises(InputError, match="no close matches"):
        lex.lookup("XYLOPHON", "gsg")
    assert len(Lexicon.open("fs").close_matches("AA", "gsg", n=5)) <= 5


def test_language_errors() -> None:
    lex = Lexicon.open("fs")
    with pytest.raises(InputError, match=r"^fingerspelling lexicon: gloss 'A' exists in \d+ languages .*choose a language"):
        lex.lookup("A", None)
    with pytest.raises(InputError, match="language 'xx' is not in the lexicon"):
        lex.lookup("A", "xx")
