"""The base layer: files, images, progress bars and seeds, used by every other part of signgen.

Nothing here imports torch or any other signgen package except `signgen.errors`, so the
torch-free `signgen.pose` can build on it as well as rendering and training.
"""
