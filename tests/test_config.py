"""Training configs: YAML in and out, overrides, errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from signgen.config import Config, load_config, save_config
from signgen.errors import InputError
from signgen.train.common import build_size

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name, size, image", [("tiny", "tiny", (64, 64)), ("phoenix", "phoenix", (256, 256)),
                                              ("deepfashion", "deepfashion", (256, 176))])
def test_shipped_configs_load_and_fit_their_model_size(name, size, image):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.model.size == size
    assert cfg.sample.steps == 20 and cfg.sample.guidance == 2.0  # FPDM's sampling defaults
    assert cfg.train.noise_offset == 0.1
    built = build_size(cfg.model)
    assert built.image_size == image
    if name != "tiny":
        assert built.encoder.arch == "ViT-L-14"  # CLIP ViT-L/14
        assert cfg.fusion.encoder_lr == 1e-5 and cfg.fusion.weight_decay == 1e-4  # FPDM stage 1


def test_round_trip_and_overrides(tmp_path):
    cfg = load_config(CONFIGS / "tiny.yaml", ["diffusion.steps=7", "fusion.betas=[0.8, 0.95]",
                                              "train.mixed_precision=no", "model.vae_path=runs/v",
                                              "model.overrides.stage2.layers_per_block=2", "data.val_split=null"])
    assert cfg.diffusion.steps == 7 and cfg.fusion.betas == (0.8, 0.95)
    assert cfg.train.mixed_precision == "no"  # YAML's bare `no` is a boolean; the field wants the word
    assert cfg.model.vae_path == "runs/v" and cfg.data.val_split is None
    assert build_size(cfg.model).stage2.layers_per_block == 2
    assert cfg.vae.lr == 2e-4  # untouched keys keep the file's values
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg
    assert load_config(None) == Config()


def test_floats_written_as_yaml_1_1_strings_are_numbers(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("fusion:\n  lr: 1e-4\n  encoder_lr: 3\n")  # yaml.safe_load reads 1e-4 as a string
    cfg = load_config(path)
    assert cfg.fusion.lr == 1e-4 and isinstance(cfg.fusion.encoder_lr, float)


@pytest.mark.parametrize("text, overrides, message", [
    ("train:\n  seeed: 1\n", [], r"c.yaml: unknown config key 'train.seeed'"),
    ("trian: {}\n", [], r"c.yaml: unknown config key 'trian'"),
    ("train:\n  seed: one\n", [], r"c.yaml: train.seed: expected an integer, got 'one'"),
    ("fusion:\n  betas: [0.9]\n", [], r"c.yaml: fusion.betas: expected a list of 2 values"),
    ("train:\n  mixed_precision: fp8\n", [], r"c.yaml: train.mixed_precision must be no, auto, bf16 or fp16"),
    ("diffusion:\n  batch_size: 0\n", [], r"c.yaml: diffusion.batch_size must be >= 1"),
    ("data: [1, 2]\n", [], r"c.yaml: data: expected a mapping"),
    ("- a\n- b\n", [], r"c.yaml: a config file must be a YAML mapping"),
    ("train: {seed: 1\n", [], r"c.yaml: invalid YAML at line 2"),
    ("", ["diffusion.stepz=3"], r"c.yaml: unknown config key 'diffusion.stepz'"),
    ("", ["diffusion.steps"], r"override 'diffusion.steps' is not key=value"),
    ("", ["train.seed.x=1"], r"c.yaml: train.seed: expected an integer, got {'x': 1}"),
])
def test_config_errors_name_the_file_and_the_key(tmp_path, text, overrides, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_config(path, overrides)


def test_missing_file_and_bad_model_overrides(tmp_path):
    with pytest.raises(InputError, match="nope.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")
    cfg = load_config(None, ["model.overrides.stage2.layerz=2"])
    with pytest.raises(InputError, match="unknown field 'stage2.layerz' of model size 'tiny'"):
        build_size(cfg.model)
    cfg = load_config(None, ["model.overrides.stage2.latent_size=[8,8]"])
    with pytest.raises(InputError, match="latent size"):
        build_size(cfg.model)
    with pytest.raises(InputError, match="unknown model size 'huge'"):
        build_size(load_config(None, ["model.size=huge"]).model)
