"""`python data_prep/prepare_synthetic.py ...` is `signgen prep synthetic ...` (the code: `signgen.prep.synthetic`)."""

import sys

from signgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["prep", "synthetic", *sys.argv[1:]]))
