#!/bin/sh
# The 128x160 `small` model (issue: legible signing), trained on a 2-core CPU with the project's
# own commands. Every step resumes if interrupted: rerun the script (finished work is skipped,
# training runs continue from their newest checkpoint, bit-exactly).
#
#   sh scripts/train_small_model.sh [WORK_DIR]     (default: ./small-model-run)
#
# Status of this recipe (see the README, "Legibility"): every step below ran as written, over
# two sessions on a 2-core CPU; stage 2 and the decoder fine-tuning were stopped at the step the
# README reports (their step counts here are upper bounds: the newest checkpoint is what counts).
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-small-model-run}
mkdir -p "$W/runs"
cd "$W"
CFG=$REPO/configs/small.yaml

# World A (seed 0): 60 signers (46 train, 7 dev, 7 test), 6 procedural sentences + 4 real
# fingerspelled words each, at 128x160 (PHOENIX's aspect); per-frame hand labels beside the
# ground truth (groundtruth/phoenix/<split>/<clip>.labels.json). Its test signers doing its test
# sentences and words are what the README's results are measured on.
signgen prep synthetic -o synthetic --signers 60 --sentences 6 --fingerspelling 4 --size 128x160
signgen prep phoenix synthetic/PHOENIX-2014-T -o prepared --keypoints synthetic/groundtruth/phoenix --pairs 60000
# World B (seed 1): 400 other signers (304 train), one sentence each, for the VAE's variety.
signgen prep synthetic -o synthetic-b --signers 400 --sentences 1 --seed 1 --size 128x160
signgen prep phoenix synthetic-b/PHOENIX-2014-T -o prepared-b --keypoints synthetic-b/groundtruth/phoenix --pairs 60000

# The legibility score's hand classifier: ground-truth hand crops of world A's train signers.
signgen train legibility --release synthetic --out runs/legibility --every 2 --steps 1500

# VAE: factor 4, 8 latent channels, on 64x64 crops (half on a hand), hand and face boxes 4x,
# PatchGAN hinge term from step 3,000 (configs/small.yaml). Training runs across sessions: the
# newest checkpoint is committed under checkpoints/small-vae/ (weights, optimizer, state), and
# copied into the run here, so the run resumes exactly where the last session stopped.
if [ ! -d runs/vae/checkpoints ] && [ -d "$REPO/checkpoints/small-vae" ]; then
    mkdir -p runs/vae/checkpoints
    cp -r "$REPO"/checkpoints/small-vae/step-* runs/vae/checkpoints/
fi
# Stopped at step 3,250 (the encoder, and so the latent space, is fixed from here on).
signgen train vae --config $CFG --data prepared-b --out runs/vae \
    --set train.checkpoint_every=250 --set train.sample_every=500 --set vae.steps=3250
# Its decoder alone, PatchGAN from the start: the encoder and latent scale stay frozen, so stage 2's
# latents and feature cache stay valid and this can run beside stage 1 and stage 2 (one thread each).
OMP_NUM_THREADS=1 signgen train vae --config $CFG --data prepared-b --out runs/vae-dec \
    --set model.vae_path=runs/vae --set train.vae_decoder_only=true --set train.vae_gan_start=0 \
    --set vae.steps=6000 --set train.checkpoint_every=250 --set train.sample_every=500 &

signgen train fusion --config $CFG --data prepared --out runs/fusion --set fusion.steps=500

# Stage 2: the model (hand and face boxes weigh 4x in the diffusion loss) and the same run
# without that weighting (the dev comparison), side by side on one shared feature cache.
diffusion() {  # diffusion OUT [more --set ...]: later --set flags win
    out=$1; shift
    signgen train diffusion --config $CFG --data prepared --out "$out" \
        --set model.vae_path=runs/vae --set model.stage1_path=runs/fusion \
        --set data.flip_p=0 --set train.ema_decay=0.995 --set sample.guidance=1.0 \
        --set train.cache_dir=runs/cache-prepared --set train.checkpoint_every=250 --set train.sample_every=500 "$@"
}
diffusion runs/cache-build --set diffusion.steps=1   # builds the shared feature cache
rm -rf runs/cache-build
OMP_NUM_THREADS=1 diffusion runs/diffusion --set diffusion.steps=5000 &
OMP_NUM_THREADS=1 diffusion runs/diffusion-nopart --set diffusion.steps=5000 --set train.part_weight=0 &
wait

