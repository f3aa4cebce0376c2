"""Raw dataset layouts -> the prepared format (`signgen.data.prepared`).

- `phoenix`: RWTH-PHOENIX-Weather 2014T as released (frames + sentence glosses), keypoints from
  provided per-clip files or extracted with MediaPipe;
- `deepfashion`: the DeepFashion In-shop PGPIS pair lists and OpenPose-18 annotations;
- `lexicon`: a gloss lexicon learned from sentence-level glosses (alignment in
  `signgen.pose.align`);
- `synthetic`: a procedural release with exact ground truth (`signgen.synth`).

Broken clips are reported and skipped, never fatal: see `common.SkipReport`.
"""
