"""RepMLPNet: re-parameterised logits, the official checkpoint layouts (training and inference form), loading at
another image size, and full-size counts (the RepMLP Block itself: tests/layers/test_rep_mlp.py)."""

import re

import pytest
import timm
import torch
from timm.scheduler import CosineLRScheduler
from yacs.config import CfgNode

from mlpvision.complexity import count_parameters
from mlpvision.layers.rep_mlp import RepMlp
from mlpvision.models import save_weights

from ..conftest import load_file, noise_logits, randomize_statistics_, reference_rows

TINY = dict(depths=(1, 1, 1, 1), embed_dim=32, img_size=64, num_classes=10)
# the shared contract suites' configuration (conftest.tiny_kwargs)
TINY_KWARGS = dict(depths=(1, 1, 1, 1), embed_dims=(16, 32, 64, 256), img_size=64)
# the official models' parameter counts after their locality_injection()
DEPLOY_PARAMS = {"mlpv_repmlpnet_t224": 38_331_720, "mlpv_repmlpnet_b224": 68_332_664,
                 "mlpv_repmlpnet_t256": 58_739_400, "mlpv_repmlpnet_b256": 96_568_184,
                 "mlpv_repmlpnet_d256": 86_985_280, "mlpv_repmlpnet_l256": 117_820_600}


def _random_model(name: str = "mlpv_repmlpnet_t224", **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    model = timm.create_model(name, **{**TINY, **kwargs})
    return randomize_statistics_(model).eval()




# ---- the RepMLP Block ----------------------------------------------------------------------------------------


def test_reparameterize_model_keeps_the_logits():
    model = _random_model()
    expected = noise_logits(model)
    deployed = timm.utils.reparameterize_model(model)
    keys = deployed.state_dict().keys()
    assert "stages.0.blocks.0.token_mixer.fc3.bias" in keys
    assert not any(".fc3_norm." in key or ".local_perceptron." in key for key in keys)
    torch.testing.assert_close(noise_logits(deployed), expected, rtol=0, atol=1e-4)
    # per block: +s·h·w (FC3 bias), −2s (FC3 BN), −(1 + 2)s and −(9 + 2)s (the 1×1 and 3×3 conv + BN branches)
    mixers = [m for m in model.modules() if isinstance(m, RepMlp)]
    change = sum(m.share_sets * (m.grid_size[0] * m.grid_size[1] - 16) for m in mixers)
    assert count_parameters(deployed) == count_parameters(model) + change


_OFFICIAL_RENAMES = (  # applied in order
    (r"^stem\.proj\.", "conv_embedding.conv."), (r"^stem\.norm\.", "conv_embedding.bn."),
    (r"\.mlp\.fc(\d)\.", r".ffn_block.ffn_fc\1.conv."), (r"\.mlp\.norm(\d)\.", r".ffn_block.ffn_fc\1.bn."),
    (r"^stages\.(\d+)\.blocks\.(\d+)\.norm(\d)\.", r"stages.\1.\2.prebn\3."),
    (r"^stages\.(\d+)\.blocks\.(\d+)\.", r"stages.\1.\2."),
    (r"\.token_mixer\.global_perceptron\.", ".repmlp_block.gp."),
    (r"\.token_mixer\.fc3_norm\.", ".repmlp_block.fc3_bn."),
    (r"\.token_mixer\.fc3\.", ".repmlp_block.fc3."),
    (r"\.token_mixer\.local_perceptron\.conv(\d)\.", r".repmlp_block.repconv\1."),
    (r"^norm\.", "head_norm."),
)


def _to_official(state: dict) -> dict:
    """Our keys → DingXiaoH/RepMLP ``repmlpnet.py`` keys (inverse of the family's checkpoint filter)."""
    out = {}
    for key, value in state.items():
        downsample = re.match(r"^stages\.(\d+)\.downsample\.(proj|norm)\.(.*)", key)
        if downsample:
            stage, part, leaf = downsample.groups()
            key = f"embeds.{int(stage) - 1}.{'conv' if part == 'proj' else 'bn'}.{leaf}"
        for pattern, replacement in _OFFICIAL_RENAMES:
            key = re.sub(pattern, replacement, key)
        out[key] = value
    return out


def test_official_layout_has_the_release_keys():
    with torch.device("meta"):
        official = _to_official(timm.create_model("mlpv_repmlpnet_t224").state_dict())
    shapes = {key: tuple(value.shape) for key, value in official.items()}
    assert shapes["conv_embedding.conv.weight"] == (64, 3, 4, 4)
    assert shapes["embeds.2.conv.weight"] == (512, 256, 2, 2)
    assert shapes["stages.0.1.repmlp_block.fc3.weight"] == (3136, 3136, 1, 1)
    assert shapes["stages.3.1.repmlp_block.fc3.weight"] == (128 * 49, 49, 1, 1)
    assert shapes["stages.2.5.repmlp_block.fc3_bn.running_var"] == (16,)
    assert shapes["stages.2.5.repmlp_block.repconv3.conv.weight"] == (16, 1, 3, 3)
    assert shapes["stages.1.0.repmlp_block.gp.fc1.weight"] == (32, 128, 1, 1)
    assert shapes["stages.1.0.ffn_block.ffn_fc2.bn.num_batches_tracked"] == ()
    assert shapes["head_norm.weight"] == (512,)
    assert shapes["head.weight"] == (1000, 512)


def test_official_training_form_checkpoint(tmp_path):
    model = _random_model()
    torch.save(_to_official(model.state_dict()), tmp_path / "RepMLPNet-T224-train-acc76.62.pth")
    loaded = load_file("mlpv_repmlpnet_t224", tmp_path / "RepMLPNet-T224-train-acc76.62.pth", **TINY)
    assert not any(m.deployed for m in loaded.modules() if isinstance(m, RepMlp))
    assert torch.equal(noise_logits(loaded), noise_logits(model))


def _repmlp_config() -> CfgNode:
    """The yacs config main_repmlp.py trains with: config.py's defaults (a subset), cloned and frozen as
    ``get_config`` returns it."""
    defaults = CfgNode()
    defaults.DATA = CfgNode()
    defaults.DATA.BATCH_SIZE, defaults.DATA.IMG_SIZE, defaults.DATA.INTERPOLATION = 128, 224, "bilinear"
    defaults.MODEL = CfgNode()
    defaults.MODEL.ARCH, defaults.MODEL.NUM_CLASSES, defaults.MODEL.LABEL_SMOOTHING = "RepMLPNet-T224", 1000, 0.1
    defaults.TRAIN = CfgNode()
    defaults.TRAIN.EPOCHS, defaults.TRAIN.WARMUP_EPOCHS, defaults.TRAIN.BASE_LR = 100, 10, 1e-3
    defaults.TRAIN.CLIP_GRAD, defaults.TRAIN.OPTIMIZER = 5.0, CfgNode(dict(NAME="adamw", BETAS=(0.9, 0.999)))
    defaults.TEST = CfgNode(dict(CROP=False))
    defaults.AMP_OPT_LEVEL, defaults.OUTPUT, defaults.TAG = "O0", "output/RepMLPNet-T224", "default"
    config = defaults.clone()
    config.defrost()
    config.MODEL.NUM_CLASSES = 10
    config.freeze()
    return config


def test_authors_training_checkpoint_with_its_yacs_config_loads_the_model_not_the_ema(tmp_path):
    """main_repmlp.py's save_checkpoint (utils.py:82-91) writes the weights, a real optimizer's and scheduler's state,
    an EMA and the yacs config; the authors' evaluation (utils.py:58-59) reads ``model``."""
    model = _random_model()
    official = _to_official(model.state_dict())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    model(torch.randn(2, 3, 64, 64)).sum().backward()
    optimizer.step()
    scheduler = CosineLRScheduler(optimizer, t_initial=100, warmup_t=10, t_in_epochs=False)
    ema = {key: value + 1.0 if value.is_floating_point() else value for key, value in official.items()}
    torch.save({"model": official, "optimizer": optimizer.state_dict(), "lr_scheduler": scheduler.state_dict(),
                "max_accuracy": 76.62, "epoch": 99, "config": _repmlp_config(), "ema": ema},
               tmp_path / "best_ckpt.pth")
    loaded = load_file("mlpv_repmlpnet_t224", tmp_path / "best_ckpt.pth", **TINY)
    assert torch.equal(noise_logits(loaded), noise_logits(model))


def test_official_inference_form_checkpoint_builds_the_inference_form(tmp_path):
    model = timm.utils.reparameterize_model(_random_model())
    official = _to_official(model.state_dict())
    assert "stages.0.0.repmlp_block.fc3.bias" in official
    assert not any("repconv" in key or "fc3_bn" in key for key in official)
    torch.save({"model": official}, tmp_path / "RepMLPNet-T224-deploy.pth")
    loaded = load_file("mlpv_repmlpnet_t224", tmp_path / "RepMLPNet-T224-deploy.pth", **TINY)
    assert all(m.deployed for m in loaded.modules() if isinstance(m, RepMlp))
    assert count_parameters(loaded) == count_parameters(model)
    assert torch.equal(noise_logits(loaded), noise_logits(model))


@pytest.mark.parametrize("deploy", [False, True])
def test_checkpoint_loads_at_another_img_size(deploy, tmp_path):
    model = _random_model()
    if deploy:
        model = timm.utils.reparameterize_model(model)
    save_weights(model, tmp_path / "w.safetensors")
    torch.save(_to_official(model.state_dict()), tmp_path / "official.pth")  # no metadata: square grids assumed
    same = load_file("mlpv_repmlpnet_t224", tmp_path / "w.safetensors", **TINY)
    assert torch.equal(noise_logits(same), noise_logits(model))
    for path in ("w.safetensors", "official.pth"):
        larger = load_file("mlpv_repmlpnet_t224", tmp_path / path, **{**TINY, "img_size": 96})
        fc3 = larger.stages[0].blocks[0].token_mixer.fc3
        assert fc3.weight.shape == (24 * 24, 24 * 24, 1, 1)
        assert (fc3.bias is not None) == deploy
        assert torch.isfinite(noise_logits(larger, 96)).all()


# ---- full-size counts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", reference_rows(("repmlpnet",)), ids=lambda row: row["name"])
def test_full_size_counts(row):
    size = int(row["img_size"])
    with torch.device("meta"):
        model = timm.create_model(row["name"])
    assert model.pretrained_cfg["input_size"] == (3, size, size)
    assert model.img_size == (size, size)
    assert count_parameters(model) == int(row["params_total"])  # GMACs: tests/models/test_exact.py
    timm.utils.reparameterize_model(model, inplace=True)
    assert count_parameters(model) == DEPLOY_PARAMS[row["name"]]
