"""`python data_prep/prepare_phoenix.py ...` is `signgen prep phoenix ...` (the code: `signgen.prep.phoenix`)."""

import sys

from signgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["prep", "phoenix", *sys.argv[1:]]))
