"""signgen: a signer's picture plus a motion becomes a video of that signer signing (FPDM).

`signgen.render(...)` (a video) and `signgen.synthesize(...)` (pictures) are the Python API
(`signgen.api`); they load torch only when first called, so `import signgen` stays light.
A few read-only helpers sit beside them for front ends such as the web page (`signgen.app`):
`text_to_glosses` (what a text becomes, and which words a lexicon covers), `lexicon_languages`
and `spoken_languages`; `InputError` is the one error a user can fix.
"""

from typing import Any

from .base.version import __version__

from .errors import InputError

__all__ = ["__version__", "InputError", "lexicon_languages", "render", "spoken_languages", "synthesize",
           "text_to_glosses"]
_LAZY = {"render": "api", "synthesize": "api", "text_to_glosses": "pose.text", "spoken_languages": "pose.text",
         "lexicon_languages": "pose.lexicon"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'signgen' has no attribute {name!r}")
