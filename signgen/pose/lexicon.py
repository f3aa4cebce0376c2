"""Sign lexicons in the spoken-to-signed layout: gloss -> keypoint clip.

A lexicon is a folder with an `index.csv`
(`path,spoken_language,signed_language,start,end,words,glosses,priority`) and `.pose`
files beside it, so lexicons from the spoken-to-signed ecosystem work as they are.
`start`/`end` are milliseconds into the file (0,0 or empty = the whole file). When one
gloss has several entries, the **lowest** `priority` wins (spoken-to-signed's rule: it sorts
ascending and takes the first), ties going to an exact-case match, then to file order.
Paths in an index never leave the lexicon folder: a row that tries is refused when the
lexicon is opened, because a lexicon is data someone else may have written. Each path is
resolved once, then: the file it names is remembered by identity (device, inode), and a lookup
opens exactly that file, without following a symbolic link, so a link swapped in later cannot
read outside the folder. Numbers must be finite integers, fields stay under the
max_csv_field limit (`signgen.limits`).
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import io
import math
import os
import stat
import unicodedata
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable

from ..errors import InputError
from ..limits import limit, limit_error
from .io import atomic_write_bytes
from .io.files import decode_utf8, os_problem, read_checked
from .io.posefile import pose_from_bytes
from .track import PoseTrack

COLUMNS = ("path", "spoken_language", "signed_language", "start", "end", "words", "glosses", "priority")
CACHE_SIZE = 64  # .pose files kept in memory per Lexicon
BUILTIN = {"fingerspelling": "fingerspelling_lexicon", "fs": "fingerspelling_lexicon"}


def builtin_dir(name: str = "fingerspelling") -> Path:
    """Folder of a lexicon shipped with spoken-to-signed (only the fingerspelling one exists)."""
    import spoken_to_signed

    return Path(spoken_to_signed.__file__).parent / "assets" / BUILTIN[name]


def gloss_key(gloss: str) -> str:
    """Lookup key of a gloss: NFC + lower case, so "ä" == "Ä" and composed == decomposed umlauts.

    Not `casefold`: it turns "ß" into "ss", so a word with a real double s ("WASSER") would be
    fingerspelled with the letter ß, and the gloss "SS" would find the sign for ß."""
    return unicodedata.normalize("NFC", gloss.strip()).lower()


@dataclass(frozen=True)
class LexiconEntry:
    """One row of an `index.csv`: which part of which .pose file signs which gloss."""

    path: str
    spoken_language: str
    signed_language: str
    start: int = 0  # ms into the file
    end: int = 0  # ms; 0 = to the end of the file
    words: str = ""
    glosses: str = ""
    priority: int = 0  # lower wins


def _check_inside(root: Path, rel: str, where: str, index: Path) -> Path:
    """Resolve `rel` under `root`, refusing absolute paths, `..`, NUL bytes, symlink loops and
    symlinks that escape."""
    if not rel.strip():
        raise InputError(f"{where}: empty path", index)
    if "\x00" in rel:
        raise InputError(f"{where}: path {rel!r} contains a NUL byte", index)
    p = Path(rel)
    if p.is_absolute() or p.drive or rel.startswith(("/", "\\")):
        raise InputError(f"{where}: absolute path {rel!r} is not allowed; paths must stay inside the lexicon folder", index)
    try:
        full = (root / p).resolve()
        inside = full.is_relative_to(root.resolve())
    except (OSError, RuntimeError, ValueError) as e:  # RuntimeError: a symlink loop (Python 3.11)
        raise InputError(f"{where}: path {rel!r} cannot be resolved ({type(e).__name__}: {e})", index) from None
    if not inside:
        raise InputError(f"{where}: path {rel!r} leaves the lexicon folder", index)
    return full


MAX_MS = 2**31 - 1  # start/end in ms (24 days) and priorities: beyond it a number is garbage


def _int_field(value: str | None, name: str, where: str, index: Path) -> int:
    value = (value or "").strip()
    if not value:
        return 0
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"{where}: {name} {value!r} is not a number", index) from None
    if not (math.isfinite(number) and abs(number) <= MAX_MS):
        raise InputError(f"{where}: {name} {value!r} must be a finite number within +-{MAX_MS}", index)
    return int(number)


@contextlib.contextmanager
def _csv_field_limit(n: int):
    """csv's field limit is process-wide: set ours for the read, then put the previous one back."""
    previous = csv.field_size_limit(n)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


class Lexicon:
    """A lexicon folder, indexed by signed language and case-folded gloss."""

    def __init__(self, folder: Path, entries: list[LexiconEntry], name: str | None = None) -> None:
        self.folder = Path(folder)
        self.name = name or str(folder)
        # what error messages name: the built-in one by its name, not its site-packages path
        self.where = "fingerspelling lexicon" if self.name in BUILTIN else str(self.folder)
        self.entries = entries
        # each entry's file, resolved once: (path, (st_dev, st_ino)), or None when it is missing
        self._files: dict[str, tuple[Path, tuple[int, int]] | None] = {}
        for e in entries:
            if e.path not in self._files:
                self._files[e.path] = _locate(self.folder, e.path)
        self._index: dict[str, dict[str, list[LexiconEntry]]] = {}
        for e in entries:
            by_gloss = self._index.setdefault(e.signed_language, {})
            keys = {gloss_key(e.glosses)} if e.glosses.strip() else set()
            if e.words.strip():  # spoken-to-signed also finds entries by their word
                keys.add(gloss_key(e.words))
            for k in keys:
                by_gloss.setdefault(k, []).append(e)
        self._cache: dict[Path, PoseTrack] = {}

    @classmethod
    def open(cls, name_or_dir: str | Path) -> "Lexicon":
        """Open "fingerspelling" (alias "fs", the lexicon spoken-to-signed ships) or a lexicon folder."""
        if isinstance(name_or_dir, str) and name_or_dir.lower() in BUILTIN:
            folder, name = builtin_dir(name_or_dir.lower()), name_or_dir.lower()
        else:
            folder, name = Path(name_or_dir), str(name_or_dir)
        if not folder.is_dir():
            problem = "is a file, not a lexicon folder" if folder.exists() else "no such lexicon folder"
            raise InputError(f"{problem} (built-in lexicons: fingerspelling)", folder)
        index = folder / "index.csv"
        if not index.exists():
            raise InputError("lexicon folder has no index.csv", folder)
        return cls(folder, _read_index(index, folder), name=name)

    def languages(self) -> list[str]:
        """Signed-language codes that have at least one entry."""
        return sorted(self._index)

    def glosses(self, language: str) -> list[str]:
        """Glosses of one signed language, as written in the index (case kept)."""
        self._check_language(language)
        return sorted({e.glosses for rows in self._index[language].values() for e in rows if e.glosses})

    def has(self, gloss: str, language: str | None = None) -> bool:
        """Whether `lookup` would find the gloss (without reading any file)."""
        try:
            self.entry(gloss, language)
        except InputError:
            return False
        return True

    def entry(self, gloss: str, language: str | None = None) -> LexiconEntry:
        """The row `lookup` would use: lowest priority, then exact case, then first in the file."""
        key = gloss_key(gloss)
        if not key:
            raise InputError("empty gloss", self.where)
        if language is None:
            found = [lang for lang in self.languages() if key in self._index[lang]]
            if len(found) > 1:
                raise InputError(
                    f"gloss {gloss!r} exists in {len(found)} languages ({', '.join(found[:8])}); choose a language "
                    "(--language)",
                    self.where,
                )
            if not found:
                langs = self.languages()
                raise InputError(self._unknown_message(gloss, langs[0] if len(langs) == 1 else None), self.where)
            language = found[0]
        self._check_language(language)
        rows = self._index[language].get(key)
        if not rows:
            raise InputError(self._unknown_message(gloss, language), self.where)
        exact = unicodedata.normalize("NFC", gloss.strip())
        order = {id(e): i for i, e in enumerate(rows)}
        return min(rows, key=lambda e: (e.priority, e.glosses != exact and e.words != exact, order[id(e)]))

    def lookup(self, gloss: str, language: str | None = None) -> PoseTrack:
        """The clip for a gloss, cropped to the entry's start/end, in the file's own layout.

        `language` None is fine when the gloss exists in only one language of this lexicon.
        """
        e = self.entry(gloss, language)
        located = self._files.get(e.path)
        if located is None:
            raise InputError(f"pose file for gloss {gloss!r} ({e.signed_language}) is missing", self.folder / e.path)
        path, identity = located
        if path not in self._cache:
            raw = read_checked(path, inside=self.folder, expect=identity, what=".pose file size")
            if len(self._cache) >= CACHE_SIZE:  # a sentence repeats signs; a corpus must not fill memory
                self._cache.pop(next(iter(self._cache)))
            self._cache[path] = pose_from_bytes(raw, path)
        track = self._cache[path]
        first, stop = crop_frames(e.start, e.end, track.fps, track.num_frames)
        if first >= stop:
            raise InputError(
                f"entry for {gloss!r}: start {e.start} ms is past the end of the file "
                f"({track.num_frames} frames at {track.fps:g} fps)",
                path,
            )
        clip = track.slice(first, stop)
        clip.meta.update(gloss=e.glosses or gloss, language=e.signed_language, entry=asdict(e))
        return clip

    def close_matches(self, gloss: str, language: str, n: int = 5) -> list[str]:
        """Up to `n` glosses of `language` that look like `gloss` (difflib ratio >= 0.5)."""
        keys = self._index.get(language, {})
        hits = difflib.get_close_matches(gloss_key(gloss), list(keys), n=n, cutoff=0.5)
        return [keys[k][0].glosses or keys[k][0].words for k in hits]

    def _unknown_message(self, gloss: str, language: str | None) -> str:
        if language is None:
            return f"gloss {gloss!r} is not in the lexicon (languages: {', '.join(self.languages())})"
        close = self.close_matches(gloss, language)
        hint = f"; close matches: {', '.join(close)}" if close else "; no close matches"
        return f"gloss {gloss!r} is not in the {language} lexicon{hint}"

    def _check_language(self, language: str) -> None:
        if language not in self._index:
            raise InputError(
                f"language {language!r} is not in the lexicon (has: {', '.join(self.languages()) or 'none'})",
                self.where,
            )


def lexicon_languages(name_or_dir: str | Path = "fingerspelling") -> list[str]:
    """The signed-language codes a lexicon (a folder or "fingerspelling") has entries for."""
    return Lexicon.open(name_or_dir).languages()


def crop_frames(start_ms: int, end_ms: int, fps: float, num_frames: int) -> tuple[int, int]:
    """Frame range [first, stop) of a start/end in ms; end 0 = to the end; clamped to the file.

    Clamping matters: the shipped fingerspelling files were shortened after their index was
    written, so their `end` often lies past the last frame.
    """
    first = max(0, math.floor(start_ms * fps / 1000.0 + 1e-6))
    stop = num_frames if end_ms <= 0 else min(num_frames, math.ceil(end_ms * fps / 1000.0 - 1e-6))
    return min(first, num_frames), stop


def _locate(folder: Path, rel: str) -> tuple[Path, tuple[int, int]] | None:
    """An entry's file resolved (already confined by `_check_inside`) with its identity, or None
    when nothing is there; a folder or special file in its place is refused now."""
    path = _check_inside(folder, rel, f"entry path {rel!r}", folder / "index.csv")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise InputError(f"cannot read the pose file ({os_problem(e)})", path) from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError("is not a regular file", path)
    return path, (st.st_dev, st.st_ino)


def _read_index(index: Path, folder: Path) -> list[LexiconEntry]:
    text = decode_utf8(read_checked(index, inside=folder, what="index.csv size"), index)
    try:
        with _csv_field_limit(limit("max_csv_field")):
            return _parse_index(text, index, folder)
    except csv.Error as e:
        if "field larger than field limit" in str(e):
            raise limit_error("max_csv_field", None, index, "an index.csv field") from None
        raise InputError(f"index.csv is not valid CSV ({e})", index) from None


def _parse_index(text: str, index: Path, folder: Path) -> list[LexiconEntry]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InputError(f"index.csv lacks column(s) {', '.join(missing)} (has: {', '.join(header) or 'nothing'})", index)
    reader.fieldnames = header
    entries = []
    for row in reader:
        where = f"index.csv line {reader.line_num}"
        extra, short = None in row, any(v is None for k, v in row.items() if k is not None)
        if extra or short:  # csv would shift or blank the columns; say so instead
            n = len(header) + (len(row[None]) if extra else 0) - sum(v is None for v in row.values())
            raise InputError(
                f"{where} has {n} fields, the header has {len(header)} (a stray comma or an unclosed quote?)", index
            )
        rel = (row.get("path") or "").strip()
        where_g = f"{where} (gloss {(row.get('glosses') or '').strip()!r})"
        _check_inside(folder, rel, where_g, index)
        entries.append(
            LexiconEntry(
                path=rel,
                spoken_language=(row.get("spoken_language") or "").strip(),
                signed_language=(row.get("signed_language") or "").strip(),
                start=_int_field(row.get("start"), "start", where_g, index),
                end=_int_field(row.get("end"), "end", where_g, index),
                words=(row.get("words") or "").strip(),
                glosses=(row.get("glosses") or "").strip(),
                priority=_int_field(row.get("priority"), "priority", where_g, index),
            )
        )
        if not entries[-1].signed_language:
            raise InputError(f"{where_g}: empty signed_language", index)
    return entries


def write_lexicon(rows: Iterable[LexiconEntry], folder: str | Path) -> Path:
    """Write `folder/index.csv` (atomically) for a lexicon we built; returns its path.

    Paths are checked like a reader would: relative and inside `folder`. The .pose files
    themselves are the caller's to write (with `signgen.pose.io.write_pose`).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    index = folder / "index.csv"
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    names = [f.name for f in fields(LexiconEntry)]
    for i, row in enumerate(rows):
        if not isinstance(row, LexiconEntry):
            raise InputError(f"row {i} is a {type(row).__name__}, not a LexiconEntry", index)
        _check_inside(folder, row.path, f"row {i} (gloss {row.glosses!r})", index)
        if not row.signed_language:
            raise InputError(f"row {i} (gloss {row.glosses!r}): empty signed_language", index)
        writer.writerow([getattr(row, n) for n in names])
    atomic_write_bytes(index, buf.getvalue().encode("utf-8"))
    return index
