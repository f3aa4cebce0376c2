"""Safe file access shared by every format: atomic writes, existence checks, bounded JSON reads.

JSON is parsed with the standard library, which builds the whole document in memory, so a
size limit is checked first; every failure is an `InputError` naming the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ...errors import InputError

MAX_FILE_BYTES = 512 * 1024 * 1024
"""JSON files above this are refused before parsing: json builds the whole document in memory."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write a file so that it is either absent or complete: temp file in the same folder, then rename.

    The file gets the permissions a plain `open(path, "w")` would give (mkstemp's are 0600)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def existing(path: str | Path) -> Path:
    """`path` as a Path, or an InputError when nothing is there (before any format-specific work)."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path)
    return path


def read_json_text(path: Path) -> str:
    """A JSON file's text, refusing files above MAX_FILE_BYTES and text that is not UTF-8."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                f"file is {size / 2**20:.0f} MB; JSON files above {MAX_FILE_BYTES // 2**20} MB are refused "
                "(use .npz or .pose for long tracks)", path,
            )
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read file ({e.strerror})", path) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text (bad byte at offset {e.start})", path) from None


def parse_json(text: str, path: Path) -> Any:
    """json.loads whose errors name the file, line and column in one line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}", path) from None
    except RecursionError:
        raise InputError("invalid JSON: nested too deeply", path) from None
    except ValueError as e:  # e.g. an integer literal beyond Python's digit limit
        raise InputError(f"invalid JSON: {e}", path) from None


def load_json(path: Path) -> Any:
    """Parse a JSON file, refusing huge files; errors name line and column."""
    return parse_json(read_json_text(path), path)
