"""signgen: a signer's picture plus a motion becomes a video of that signer signing (FPDM).

`signgen.render(...)` (a video) and `signgen.synthesize(...)` (pictures) are the Python API
(`signgen.api`); they load torch only when first called, so `import signgen` stays light.
"""

from typing import Any

from .base.version import __version__

__all__ = ["__version__", "render", "synthesize"]


def __getattr__(name: str) -> Any:
    if name in ("render", "synthesize"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'signgen' has no attribute {name!r}")
