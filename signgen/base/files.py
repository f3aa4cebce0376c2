"""Files: untrusted ones opened safely (`open_checked`), written ones either absent or complete
(atomic writes, folder replacement, leftover temp files removed), output paths checked early."""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

from ..errors import InputError


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


def replace_folder(tmp: str | Path, final: str | Path) -> None:
    """Put the finished folder `tmp` at `final`. An older `final` is moved aside first and put
    back if the move fails, then deleted: `final` is always either the old or the new folder."""
    tmp, final = Path(tmp), Path(final)
    if not final.exists():
        os.replace(tmp, final)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
    os.replace(final, trash / final.name)
    try:
        os.replace(tmp, final)
    except BaseException:
        os.replace(trash / final.name, final)
        shutil.rmtree(trash, ignore_errors=True)
        raise
    shutil.rmtree(trash, ignore_errors=True)


def check_output_path(path: str | Path, suffixes: tuple[str, ...]) -> Path:
    """Fail early (before any work) if `path` cannot be written: unknown extension or missing folder."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise InputError(
            f"unknown output format {path.suffix or '(no extension)'!r}; supported: {', '.join(suffixes)}", path
        )
    if path.is_dir():
        raise InputError("is a folder; give a file name", path)
    if not path.parent.is_dir():
        problem = "is a file, not a folder" if path.parent.exists() else "does not exist"
        raise InputError(f"output folder {str(path.parent)!r} {problem}", path)
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise InputError(f"output folder {str(path.parent)!r} is not writable (permission denied or read-only)", path)
    return path


def check_output_folder(path: str | Path) -> Path:
    """An output folder that may be created (or exists as a folder); InputError otherwise."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("output exists and is not a folder", path)
    if not path.parent.is_dir():
        raise InputError(f"output's parent folder {str(path.parent)!r} does not exist", path)
    return path
