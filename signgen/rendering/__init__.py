"""Rendering: the video / image sampler, three-branch guidance, and (beside them) the video writer.

Kept light on purpose: importing `signgen.rendering` loads nothing heavy. Import what you need:
`from signgen.rendering.sampler import sample_video`, `from signgen.rendering.guidance import GuidedDenoiser`.
"""
