"""Rendering with a model bundle: `settings` (one render's options), `inputs` (the source
picture and the motion, loaded and checked), `sampler` (the video / image samplers over any
denoiser), `guidance` (FPDM's guidance), `pipeline` (the `Renderer`: a bundle as a denoiser,
VAE decoding), `export` (a test protocol, resumable and sharded).

Importing `signgen.rendering` loads nothing heavy; import the module you need.
"""
