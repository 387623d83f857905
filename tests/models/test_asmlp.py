"""AS-MLP beyond the shared suites: the authors' checkpoint layout and logits, input sizes, the weights' location.

The golden logits below are the authors' ``AS_MLP`` (svip-lab/AS-MLP @ dd1eb4f, ``models/as_mlp.py`` with their
pure-PyTorch ``torch_shift``) in a tiny configuration (C 16, one block per stage, 5 classes, a 64×96 input),
with every tensor of its state dict filled by ``_fill_`` below, in the sorted order of the authors' key names.
"""

import math
import sys
import types

import pytest
import timm
import torch
from timm.scheduler import CosineLRScheduler

from ..conftest import load_file, tiny_model

GOLDEN_LOGITS = [
    [0.061806321144104004, 0.022098638117313385, 0.16730897128582, 0.16846168041229248, 0.1867646425962448],
    [0.07857615500688553, 0.012247871607542038, 0.16902661323547363, 0.17508891224861145, 0.17260941863059998],
]
# also the shared contract suites' configuration (conftest.tiny_kwargs); no stochastic depth, so that the
# grad-checkpointing comparison is deterministic (the variants default to the training configs' 0.2-0.5)
TINY_KWARGS = dict(depths=(1, 1, 1, 1), embed_dims=(16, 32, 64, 128), img_size=64, drop_path_rate=0.0)
_OURS_TO_OFFICIAL = {"fc1": "conv1", "fc_horizontal": "conv2_1", "fc_vertical": "conv2_2", "fc2": "conv3"}


def _to_official(state: dict) -> dict:
    """Our keys → the authors' (``patch_embed``, ``layers.{s}.blocks.{j}.axial_shift.conv2_1``,
    ``layers.{s}.downsample`` for the merging after stage s)."""
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "stem":
            parts[0] = "patch_embed"
        elif parts[0] == "stages" and parts[2] == "downsample":
            parts = ["layers", str(int(parts[1]) - 1), *parts[2:]]
        elif parts[0] == "stages":
            parts[0] = "layers"
            if parts[4] == "token_mixer":
                parts[4] = "axial_shift"
                parts[5] = _OURS_TO_OFFICIAL.get(parts[5], parts[5])
        out[".".join(parts)] = value
    return out


def _fill_(state: dict) -> None:
    """Deterministic, non-trivial values for every tensor, whatever produced the keys (no random generator)."""
    for index, key in enumerate(sorted(state)):
        tensor = state[key]
        k = torch.arange(tensor.numel(), dtype=torch.float64)
        scale = 1.0 / math.sqrt(max(tensor[0].numel(), 1)) if tensor.ndim > 1 else 0.2
        values = torch.sin((0.37 + 0.05 * index) * k + index) * scale
        if tensor.ndim == 1 and "norm" in key and key.endswith("weight"):
            values = values + 1.0
        tensor.copy_(values.reshape(tensor.shape).to(tensor.dtype))


def _golden_input() -> torch.Tensor:
    k = torch.arange(2 * 3 * 64 * 96, dtype=torch.float64)
    return (torch.sin(0.61 * k) * torch.cos(0.0037 * k)).reshape(2, 3, 64, 96).float()


def _official_training_checkpoint(state: dict, path, config: dict | None = None) -> None:
    """What the authors' ``utils.save_checkpoint`` writes (utils.py:41-48), ``config`` being their yacs node."""
    params = [torch.nn.Parameter(value.clone()) for value in state.values() if value.is_floating_point()]
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.05)
    sum(p.square().sum() for p in params).backward()
    optimizer.step()
    scheduler = CosineLRScheduler(optimizer, t_initial=300, warmup_t=20, t_in_epochs=False)
    checkpoint = {"model": state, "optimizer": optimizer.state_dict(), "lr_scheduler": scheduler.state_dict(),
                  "max_accuracy": 81.3, "epoch": 299, "amp": {"loss_scaler0": {"loss_scale": 65536.0, "unskipped": 0}}}
    torch.save(checkpoint | ({"config": config} if config is not None else {}), path)


def test_official_layout_has_the_authors_keys_and_shapes():
    """AS-MLP-T in the authors' layout: the key count and the shapes their ``AS_MLP`` state dict has."""
    with torch.device("meta"):
        official = _to_official(timm.create_model("mlpv_asmlp_t").state_dict())
    assert len(official) == 4 + 2 * 20 + 2 * 20 + 6 * 20 + 2 * 20 + 3 * 3 + 4
    assert official["patch_embed.proj.weight"].shape == (96, 3, 4, 4)
    assert official["layers.2.blocks.5.axial_shift.conv2_1.weight"].shape == (384, 384, 1, 1)
    assert official["layers.3.blocks.1.mlp.fc1.weight"].shape == (3072, 768, 1, 1)
    assert official["layers.0.downsample.reduction.weight"].shape == (192, 384, 1, 1)
    assert official["layers.2.downsample.norm.weight"].shape == (1536,)
    assert "layers.3.downsample.norm.weight" not in official
    assert official["norm.weight"].shape == (768,)
    assert official["head.weight"].shape == (1000, 768)


def _filled_official_state() -> dict:
    with torch.device("meta"):
        official = _to_official(timm.create_model("mlpv_asmlp_t", num_classes=5, **TINY_KWARGS).state_dict())
    official = {key: torch.empty(value.shape) for key, value in official.items()}
    _fill_(official)
    return official


def test_authors_training_checkpoint_gives_the_authors_logits(tmp_path):
    _official_training_checkpoint(_filled_official_state(), tmp_path / "asmlp_tiny_patch4_shift5_224.pth")
    model = load_file("mlpv_asmlp_t", tmp_path / "asmlp_tiny_patch4_shift5_224.pth", num_classes=5, **TINY_KWARGS)
    with torch.no_grad():
        logits = model(_golden_input())
    torch.testing.assert_close(logits, torch.tensor(GOLDEN_LOGITS), rtol=0, atol=2e-6)


def test_a_checkpoint_with_the_pickled_yacs_config_loads_without_running_yacs(tmp_path, monkeypatch):
    """The authors' script also pickles its yacs ``config``. The file loads (its ``model``, the authors' logits),
    and none of the config class's code runs, even where the class is importable: a tripwire ``CfgNode`` records
    every item set on it."""
    ran = []

    class CfgNode(dict):
        def __setitem__(self, key, value):
            ran.append(key)
            super().__setitem__(key, value)

    CfgNode.__module__, CfgNode.__qualname__ = "yacs.config", "CfgNode"
    module = types.ModuleType("yacs.config")
    module.CfgNode = CfgNode
    monkeypatch.setitem(sys.modules, "yacs", types.ModuleType("yacs"))
    monkeypatch.setitem(sys.modules, "yacs.config", module)
    config = CfgNode(MODEL=CfgNode(TYPE="as_mlp", NAME="asmlp_tiny_patch4_shift5_224"), OUTPUT="output")
    _official_training_checkpoint(_filled_official_state(), tmp_path / "ckpt_epoch_299.pth", config)
    ran.clear()
    model = load_file("mlpv_asmlp_t", tmp_path / "ckpt_epoch_299.pth", num_classes=5, **TINY_KWARGS)
    assert ran == []
    with torch.no_grad():
        logits = model(_golden_input())
    torch.testing.assert_close(logits, torch.tensor(GOLDEN_LOGITS), rtol=0, atol=2e-6)


def test_any_multiple_of_32_non_square_included():
    model = tiny_model("mlpv_asmlp_t").eval()
    assert model.size_agnostic
    assert model(torch.randn(1, 3, 64, 160)).shape == (1, 10)
    maps = model.forward_intermediates(torch.randn(1, 3, 96, 32), intermediates_only=True)
    assert [m.shape[-2:] for m in maps] == [(24, 8), (12, 4), (6, 2), (3, 1)]
    with pytest.raises(ValueError, match="positive multiples of 32, got 80x96"):
        model(torch.randn(1, 3, 80, 96))


def test_pretrained_without_a_file_says_how_to_fetch_the_weights_by_hand():
    with pytest.raises(ValueError, match=r"OneDrive page with no direct download: open https://\S+ in a browser, "
                                         r"download the file \(asmlp_small_patch4_shift5_224\.pth\)"):
        timm.create_model("mlpv_asmlp_s", pretrained=True)
    cfg = timm.models.get_pretrained_cfg("mlpv_asmlp_s")
    assert any("not trained by us" in note and "pretrained_cfg_overlay" in note for note in cfg.notes)


def test_structure_reads_as_the_code():
    model = timm.create_model("mlpv_asmlp_t", **TINY_KWARGS, num_classes=10)
    assert [len(stage.blocks) for stage in model.stages] == [1, 1, 1, 1]
    mixer = model.stages[0].blocks[0].token_mixer
    assert mixer.shift_size == 5
    assert type(model.stages[1].downsample).__name__ == "PatchMerging"
    wider = timm.create_model("mlpv_asmlp_t", **TINY_KWARGS, shift_size=7, mlp_ratio=3.0)
    assert wider.stages[0].blocks[0].token_mixer.shift_size == 7
    assert wider.stages[0].blocks[0].mlp.fc1.out_channels == 48
    with pytest.raises(ValueError, match="mlpv_asmlp_t takes no 'layout', 'stem_stride': AsMlp builds the paper's"):
        timm.create_model("mlpv_asmlp_t", layout="NHWC", stem_stride=2)
