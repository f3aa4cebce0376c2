"""Keypoints: layouts, reading and writing, filtering, retargeting, drawing, extraction, lexicons.

Nothing in this package imports torch.
"""

from .skeleton import LAYOUTS, Layout, convert, get_layout
from .track import PoseTrack

__all__ = ["LAYOUTS", "Layout", "PoseTrack", "convert", "get_layout"]
