"""The published JSON Schema of `seq.json` and validation against it with one-line messages.

The schema file ships at signgen/pose/schema/seq.schema.json (the docs carry a verbatim
copy); validators for its parts (a frame, the segment list) are built from the same file,
so there is one definition of every rule the schema can express.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ...errors import InputError


@lru_cache(maxsize=1)
def seq_schema() -> dict:
    """The JSON Schema (draft 2020-12) of `seq.json`, as shipped in signgen/pose/schema/."""
    text = resources.files("signgen.pose").joinpath("schema/seq.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=None)
def validator(definition: str | None = None):
    """A draft 2020-12 validator for the whole schema, or for one of its `$defs`."""
    import jsonschema

    schema = seq_schema() if definition is None else {"$ref": f"#/$defs/{definition}", "$defs": seq_schema()["$defs"]}
    return jsonschema.Draft202012Validator(schema)


_SEGMENT_FIELDS = ("gloss", "start", "stop")


def where(location) -> str:
    """A jsonschema error path as words: ['frames', 7, 3, 2] -> 'frame 7, point 3, value 2';
    ['segments', 2, 1] -> 'segment 2, start'."""
    parts = list(location)
    if parts[:1] == ["frames"]:
        names = ("frame", "point", "value")
        return ", ".join(f"{n} {i}" for n, i in zip(names, parts[1:])) or "frames"
    if parts[:1] == ["segments"] and len(parts) > 1:
        text = f"segment {parts[1]}"
        if len(parts) > 2 and isinstance(parts[2], int) and parts[2] < len(_SEGMENT_FIELDS):
            text += f", {_SEGMENT_FIELDS[parts[2]]}"
        return text
    return "/".join(str(p) for p in parts) or "top level"


def schema_error(doc: Any, definition: str | None = None, prefix: tuple = ()) -> str | None:
    """The most relevant schema violation of `doc` (against the schema or one `$defs` entry) as one
    line, or None. `prefix` is where `doc` sits in a seq.json document, for the message."""
    import jsonschema

    error = jsonschema.exceptions.best_match(validator(definition).iter_errors(doc))
    return None if error is None else f"{where([*prefix, *error.absolute_path])}: {error.message}"


def schema_check(doc: Any, path: Path | None, definition: str | None = None, prefix: tuple = ()) -> None:
    """`schema_error` as an InputError naming the file."""
    message = schema_error(doc, definition, prefix)
    if message is not None:
        raise InputError(message, path)
