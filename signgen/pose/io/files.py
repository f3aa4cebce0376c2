"""Safe file access shared by every format: existence checks, bounded reads (the generic
file helpers, atomic writes and `open_checked`, are `signgen.base.files`).

Untrusted files are opened once, checked on the open descriptor (a regular file, not a FIFO or a
device that never ends; optionally confined to a folder and the very file that was checked
earlier), and read with a byte cap (`signgen.limits`). JSON is parsed with the standard
library, which builds the whole document in memory, so its size and nesting depth are checked
first; every failure is an `InputError` naming the file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ...base.files import (atomic_write_bytes, file_identity, open_checked, os_problem,  # noqa: F401
                           remove_temp_files)  # the readers beside this module import them from here
from ...errors import InputError
from ...limits import LIMITS, limit, limit_error

MAX_FILE_BYTES = LIMITS["max_file_bytes"].default
"""The default file-size cap (SIGNGEN_MAX_FILE_BYTES overrides it)."""

def read_checked(
    path: str | Path, *, inside: str | Path | None = None, expect: tuple[int, int] | None = None,
    limit_name: str = "max_file_bytes", what: str = "file size",
) -> bytes:
    """The bytes of an untrusted regular file (see `open_checked`), at most the `limit_name` limit."""
    cap = limit(limit_name)
    with open_checked(path, inside=inside, expect=expect) as f:
        size = os.fstat(f.fileno()).st_size
        if size > cap:
            raise limit_error(limit_name, size, path, what)
        try:
            data = f.read(cap + 1)
        except OSError as e:
            raise InputError(f"cannot read file ({os_problem(e)})", path) from None
    if len(data) > cap:  # the file grew while being read
        raise limit_error(limit_name, len(data), path, what)
    return data


def existing(path: str | Path) -> Path:
    """`path` as a Path, or an InputError when nothing is there (before any format-specific work)."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path)
    return path


def read_json_text(path: Path, *, inside: str | Path | None = None) -> str:
    """A JSON file's text, refusing files above the file-size limit and text that is not UTF-8."""
    raw = read_checked(path, inside=inside, what="JSON file size (use .npz or .pose for long tracks)")
    return decode_utf8(raw, path)


def decode_utf8(raw: bytes, path: Path | str | None) -> str:
    """UTF-8 (a BOM allowed) or an InputError naming the offset of the first bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text (bad byte at offset {e.start})", path) from None


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth(text: str) -> int:
    """The deepest nesting of [ and { in a JSON text (brackets inside strings ignored)."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).encode("ascii")
    if not brackets:
        return 0
    b = np.frombuffer(brackets, np.uint8)
    return int(np.cumsum(np.where((b == ord("[")) | (b == ord("{")), 1, -1)).max())


def parse_json(text: str, path: Path | str | None) -> Any:
    """json.loads whose errors name the file, line and column in one line; the nesting depth is
    checked first (against max_json_depth), so no document can exhaust the stack."""
    depth = json_depth(text)
    if depth > limit("max_json_depth"):
        raise limit_error("max_json_depth", depth, path, "invalid JSON: nested too deeply")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}", path) from None
    except RecursionError:
        raise InputError("invalid JSON: nested too deeply", path) from None
    except ValueError as e:  # e.g. an integer literal beyond Python's digit limit
        raise InputError(f"invalid JSON: {e}", path) from None


def load_json(path: Path, *, inside: str | Path | None = None) -> Any:
    """Parse a JSON file, refusing huge or deep documents and special files (and, with `inside`,
    files outside that folder); errors name line and column."""
    return parse_json(read_json_text(path, inside=inside), path)
