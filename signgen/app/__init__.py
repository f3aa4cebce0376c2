"""`signgen app`: a local web page (Gradio) over the Python API.

It imports only the facade (`signgen.render` and its read-only helpers), so the page can do
nothing the CLI cannot, and says what went wrong in the CLI's own one-line messages.
"""

from .page import App, build, launch

__all__ = ["App", "build", "launch"]
