"""Rendering: the video / image sampler, three-branch guidance, and (beside them) the video writer.

Kept light on purpose: importing `signgen.render` loads nothing heavy. Import what you need:
`from signgen.render.sampler import sample_video`, `from signgen.render.guidance import GuidedDenoiser`.
"""
