"""The prepared dataset format: what `signgen prep ...` writes and training reads."""

from .prepared import Clip, Pair, PreparedDataset

__all__ = ["Clip", "Pair", "PreparedDataset"]
