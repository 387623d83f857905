"""Pre-processing through timm: DeiT's RandAugment policy works with current Pillow; eval transforms fit any size."""

import numpy as np
import torch
from PIL import Image
from timm.data import auto_augment

from mlpvision.data import build_transforms, data_config

from ..conftest import tiny_model


def test_posterize_to_zero_bits_is_a_black_image():
    image = Image.fromarray(np.full((4, 4, 3), 200, dtype=np.uint8))
    black = auto_augment.NAME_TO_OP["PosterizeIncreasing"](image, 0)
    assert np.asarray(black).max() == 0
    two_bits = auto_augment.NAME_TO_OP["PosterizeIncreasing"](image, 2)
    assert np.asarray(two_bits).max() == 192  # 200 = 0b11001000 → 0b11000000


def test_deit_randaugment_runs_at_every_magnitude():
    config = data_config(tiny_model("mlpv_mixer_s16"), 32)
    train, _ = build_transforms(config, dict(auto_augment="rand-m10-mstd1.0-inc1", re_prob=0.25))
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    torch.manual_seed(0)
    for _ in range(300):
        assert train(image).shape == (3, 32, 32)


def test_eval_transform_follows_the_model_config_at_any_size():
    model = tiny_model("mlpv_resmlp_12")
    config = data_config(model, 48)
    assert config["input_size"] == (3, 48, 48)
    assert config["mean"] == model.pretrained_cfg["mean"]
    _, evaluation = build_transforms(config, {})
    assert evaluation(Image.new("RGB", (100, 60))).shape == (3, 48, 48)
