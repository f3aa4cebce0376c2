"""Regenerate `docs/demo.gif`: the bundled model fingerspelling a word, source | drawn pose |
generated, at the model's own frame size, up-scaled by nearest neighbour only (so every pixel
shown is one the model made).

    python scripts/make_demo_gif.py [--word HALLO] [--language gsg] [--scale 2] [--keep-static] [--out docs/demo.gif]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import imageio.v3 as iio
import numpy as np

import signgen
from signgen.base.images import read_image
from signgen.geometry import resize_image
from signgen.rendering.pipeline import DEFAULT_MODEL, Renderer

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=str(REPO / "examples" / "signer-1.png"))
    ap.add_argument("--word", default="HALLO")
    ap.add_argument("--language", default="gsg")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--fps", type=float, default=12.5)
    ap.add_argument("--model", default=None, help="default: the bundled model")
    ap.add_argument("--keep-static", action="store_true", help="generate only where the poses move")
    ap.add_argument("--out", default=str(REPO / "docs" / "demo.gif"))
    args = ap.parse_args()

    renderer = Renderer.load(args.model or DEFAULT_MODEL, "cpu")
    # the source at the model's size, so the renderer resamples nothing on the way out
    source = resize_image(read_image(args.source), renderer.model_width, renderer.model_height)
    frames = signgen.render(source, glosses=" ".join(args.word), lexicon="fingerspelling", language=args.language,
                            side_by_side=True, progress=False, renderer=renderer, keep_static=args.keep_static)
    s = args.scale
    big = [np.repeat(np.repeat(f, s, axis=0), s, axis=1) for f in frames]
    iio.imwrite(args.out, np.stack(big), extension=".gif", duration=1000 / args.fps, loop=0)
    print(f"wrote {args.out}: {len(big)} frames of {big[0].shape[1]}x{big[0].shape[0]}")


if __name__ == "__main__":
    main()
