"""Safe file access shared by every format: atomic writes, existence checks, bounded reads.

Untrusted files are opened once, checked on the open descriptor (a regular file, not a FIFO or a
device that never ends; optionally confined to a folder and the very file that was checked
earlier), and read with a byte cap (`signgen.limits`). JSON is parsed with the standard
library, which builds the whole document in memory, so its size and nesting depth are checked
first; every failure is an `InputError` naming the file.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ...errors import InputError
from ...limits import LIMITS, limit, limit_error

MAX_FILE_BYTES = LIMITS["max_file_bytes"].default
"""The default file-size cap (SIGNGEN_MAX_FILE_BYTES overrides it)."""

_OS_PROBLEMS = {
    errno.ENOENT: "no such file (or a broken symbolic link)",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ELOOP: "symbolic link loop (or a symbolic link where none may be)",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOSPC: "no space left on the device",
    errno.EROFS: "read-only file system",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENAMETOOLONG: "file name too long",
}


def os_problem(error: OSError) -> str:
    """An OSError as a few words a user can act on ("permission denied", "no space left ...")."""
    return _OS_PROBLEMS.get(error.errno, error.strerror or type(error).__name__)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _inside(real: str, folder: str | Path) -> bool:
    root = os.path.realpath(folder)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def open_checked(
    path: str | Path, *, inside: str | Path | None = None, expect: tuple[int, int] | None = None,
) -> BinaryIO:
    """Open an untrusted file for reading, refusing anything but a regular file.

    The file is opened without blocking (a FIFO cannot hang the open) and checked on the open
    descriptor, so what is read is what was checked. `inside`: the file, all symbolic links
    followed, must lie in that folder, and is then opened with O_NOFOLLOW. `expect`: the
    (st_dev, st_ino) the file had when it was checked earlier (a lexicon's files, when it was
    opened): a file swapped in since is refused.
    """
    path = Path(path)
    if "\x00" in str(path):
        raise InputError("file name contains a NUL byte", repr(str(path)))
    target, flags = str(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if inside is not None:
        try:
            target = os.path.realpath(path, strict=True)
        except OSError as e:
            raise InputError(os_problem(e), path) from None
        if not _inside(target, inside):
            raise InputError(f"leaves the folder {str(inside)!r} (through a symbolic link or '..')", path)
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags)
    except OSError as e:
        raise InputError(os_problem(e), path) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"is {_kind(st.st_mode)}, not a regular file", path)
        if expect is not None and (st.st_dev, st.st_ino) != tuple(expect):
            raise InputError("the file was replaced after it was checked; refusing to read it", path)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def file_identity(path: str | Path) -> tuple[int, int]:
    """(st_dev, st_ino) of a file, for `open_checked(expect=...)`."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write a file so that it is either absent or complete: temp file in the same folder, then rename.

    The file gets the permissions a plain `open(path, "w")` would give (mkstemp's are 0600)."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:  # read-only or missing folder: the user's to fix
        raise InputError(f"cannot write ({os_problem(e)})", path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as e:  # a full disk, a quota
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write ({os_problem(e)})", path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_TEMP_FILE = r"\.{name}\.[A-Za-z0-9_]+\.tmp(?:\.[A-Za-z0-9]+)?"  # atomic_write_bytes, write_video
_TEMP_DIR = r"\.{name}\.(?:tmp|old)-[A-Za-z0-9_]+"  # tempfile.mkdtemp of folder writers


def remove_temp_files(folder: str | Path, name: str | None = None) -> int:
    """Delete the hidden temp files and folders a killed writer left in `folder`; returns how many.

    These are the names `atomic_write_bytes` (`.NAME.XXXX.tmp`), `write_video`
    (`.STEM.XXXX.tmp.mp4`) and the folder writers (`.NAME.tmp-XXXX`, `.NAME.old-XXXX`) use;
    `name` limits it to the temps of one target (its file name, or a video's stem). Call it
    only where no other live process writes the same targets (the next run of the same job).
    """
    folder = Path(folder)
    pattern = re.compile("|".join(p.format(name=".+" if name is None else re.escape(name))
                                  for p in (_TEMP_FILE, _TEMP_DIR)))
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            Path(entry.path).unlink(missing_ok=True)
        removed += 1
    return removed


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
