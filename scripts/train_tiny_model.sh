#!/bin/sh
# Retrain the first bundled model, the 64x64 `tiny` size (shipped in signgen/assets/default-model
# until the 128x160 `small` model replaced it; docs/model-history.md has its results), exactly as
# it was trained: on a 2-core CPU, about 4 hours in all (1.3 s per stage-2 step with the ablation
# beside it). Every stage resumes if interrupted (rerun the script).
#
#   sh scripts/train_tiny_model.sh [WORK_DIR]     (default: ./tiny-model-run)
#
# Two synthetic worlds. World A (seed 0, 60 signers) is the one the README's results and the
# examples come from: its test signers and sentences are never trained on. World B (seed 1, 400
# other signers) gives the VAE and stage 2 the variety of appearance that 46 training signers
# lack (trained on A alone, the VAE turned an unseen magenta shirt olive).
# The two stage-2 runs (the model, and the paper's "stage 2 alone" ablation for the README's
# table) share one feature cache and run side by side, one thread each.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-tiny-model-run}
mkdir -p "$W"
cd "$W"

# World A: 60 signers (46 train, 7 dev, 7 test), 6 procedural sentences + 4 real fingerspelled
# words each, rendered at the model's 64x64 so evaluation needs no resampling.
signgen prep synthetic -o synthetic --signers 60 --sentences 6 --fingerspelling 4 --size 64x64
signgen prep phoenix synthetic/PHOENIX-2014-T -o prepared \
    --keypoints synthetic/groundtruth/phoenix --pairs 60000
# World B: 400 other signers (304 train), one sentence each for the VAE; the same signers with
# 2 sentences + 2 fingerspelled words each for stage 2.
signgen prep synthetic -o synthetic-b --signers 400 --sentences 1 --seed 1 --size 64x64
signgen prep phoenix synthetic-b/PHOENIX-2014-T -o prepared-b \
    --keypoints synthetic-b/groundtruth/phoenix --pairs 60000
signgen prep synthetic -o synthetic-b2 --signers 400 --sentences 2 --fingerspelling 2 --seed 1 --size 64x64
signgen prep phoenix synthetic-b2/PHOENIX-2014-T -o prepared-b2 \
    --keypoints synthetic-b2/groundtruth/phoenix --pairs 60000

# VAE: 900 steps on world A, 1,000 more on world B, then its decoder alone (latents fixed).
signgen train vae --config $REPO/configs/tiny.yaml --data prepared --out runs/vae \
    --set vae.steps=900 --set vae.lr=5e-4
signgen train vae --config $REPO/configs/tiny.yaml --data prepared-b --out runs/vae-b \
    --set model.vae_path=runs/vae --set vae.steps=1000 --set vae.lr=5e-4
signgen train vae --config $REPO/configs/tiny.yaml --data prepared-b --out runs/vae-dec \
    --set model.vae_path=runs/vae-b --set train.vae_decoder_only=true --set vae.steps=1000 --set vae.lr=5e-4
signgen train fusion --config $REPO/configs/tiny.yaml --data prepared --out runs/fusion --set fusion.steps=1000

diffusion() {  # diffusion DATA VAE OUT [more --set ...]: later --set flags win
    data=$1 vae=$2 out=$3; shift 3
    signgen train diffusion --config $REPO/configs/tiny.yaml --data "$data" --out "$out" \
        --set model.vae_path="$vae" --set model.stage1_path=runs/fusion \
        --set data.flip_p=0 --set train.ema_decay=0.995 \
        --set train.cache_dir=runs/cache-"$data" --set sample.guidance=1.0 "$@"
}
both() {  # both DATA VAE STEPS: the model and the ablation, side by side, one thread each
    diffusion "$1" "$2" runs/cache-build-"$1" --set diffusion.steps=1   # builds the shared feature cache
    rm -rf runs/cache-build-"$1"
    OMP_NUM_THREADS=1 diffusion "$1" "$2" runs/diffusion --set diffusion.steps="$3" &
    OMP_NUM_THREADS=1 diffusion "$1" "$2" runs/diffusion-alone --set diffusion.steps="$3" \
        --set model.overrides.stage2.drop_fusion=1.0 &
    wait
}
# Stage 2: 1,800 steps on world A with the first VAE, then continued (same runs, resumed) on
# world B with the world-B VAE.
both prepared runs/vae 1800
both prepared-b2 runs/vae-b 4200

# The bundles get the fine-tuned decoder (same encoder, so stage 2's latents are unchanged).
for run in runs/diffusion runs/diffusion-alone; do
    python -c "import sys; from signgen.models.bundle import replace_vae_decoder as r; r(sys.argv[1], sys.argv[2])" \
        $run/bundle runs/vae-dec
done
python $REPO/scripts/choose_sampling.py --model runs/diffusion/bundle --data prepared --clips 2 \
    --frames 400 --samplers ddpm --steps 20 --guidance 1.0 1.5 --out runs/choose --write
# the sampler and steps (README: Rendering speed), on the dev clips of a world no model saw
signgen prep synthetic -o data-speed/synthetic --signers 12 --sentences 2 --fingerspelling 1 --size 64x64 --seed 2
signgen prep phoenix data-speed/synthetic/PHOENIX-2014-T -o data-speed/prepared \
    --keypoints data-speed/synthetic/groundtruth/phoenix --pairs 100
python $REPO/scripts/choose_sampling.py --model runs/diffusion/bundle --data data-speed/prepared --clips 3 \
    --frames 24 --samplers dpm++ unipc ddim --steps 3 4 6 8 --out runs/choose-speed --write
python $REPO/benchmarks/honest_results.py --model runs/diffusion/bundle --stage2-alone runs/diffusion-alone/bundle \
    --data prepared --split test --clips 5 --out runs/honest
echo "model: $W/runs/diffusion/bundle"
