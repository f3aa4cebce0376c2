"""`python data_prep/prepare_deepfashion.py ...` is `signgen prep deepfashion ...` (the code: `signgen.prep.deepfashion`)."""

import sys

from signgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["prep", "deepfashion", *sys.argv[1:]]))
