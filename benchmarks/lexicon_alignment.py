"""Learned gloss lexicon vs. uniform segmentation, on the synthetic release (exact truth known).

Prints ONE JSON line: per method (uniform flat start, learned alignment, and a lexicon cut at the
true boundaries as the floor) the mean gloss-boundary error in frames on the training sentences
and the DTW mean joint error (px, common 256x256 framing) of tracks stitched from the lexicon
against the held-out test sentences. See signgen/prep/lexicon_eval.py for the definitions.

    python benchmarks/lexicon_alignment.py --work /tmp/lexbench
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=None, help="Working folder (kept; a rerun reuses the release). Default: a temp folder.")
    ap.add_argument("--signers", type=int, default=9)
    ap.add_argument("--sentences", type=int, default=20, help="Sentences per signer.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iterations", type=int, default=5)
    args = ap.parse_args()

    from signgen.prep.lexicon_eval import evaluate_lexicon_alignment

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = evaluate_lexicon_alignment(args.work or tmp, num_signers=args.signers,
                                            sentences_per_signer=args.sentences, seed=args.seed,
                                            iterations=args.iterations)
    result["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
