"""One exception type for problems with the user's input.

Library code raises `InputError` with a one-line message naming the file and the
problem; the CLI turns it into that line on stderr and exit code 2.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input that the user can fix: a file, a flag, a value."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if path is not None else message)
