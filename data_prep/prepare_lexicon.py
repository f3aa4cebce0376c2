"""`python data_prep/prepare_lexicon.py ...` is `signgen prep lexicon ...` (the code: `signgen.prep.lexicon`)."""

import sys

from signgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["prep", "lexicon", *sys.argv[1:]]))
