"""Multi-stage names beyond the shared contract (``test_contract.py``, ``test_input_size.py``): stage feature maps,
an FPN on ``features_only``, resampled loading, weight downloads, re-parameterisation."""

import re

import pytest
import timm
import torch
from torch import nn

from mlpvision.models import _download, save_weights

from ..conftest import (
    HIERARCHICAL_FAMILIES,
    randomize_statistics_,
    reference_rows,
    tiny_kwargs,
    tiny_model,
)

NAMES = [row["name"] for row in reference_rows(HIERARCHICAL_FAMILIES)]
FIXED_SIZE = [name for name in NAMES if not tiny_model(name).size_agnostic]
BATCH = 2


def _input(model: nn.Module, size: tuple[int, int] | None = None) -> torch.Tensor:
    return torch.randn(BATCH, 3, *(size or model.img_size), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", NAMES)
def test_forward_intermediates_are_the_stage_maps(name):
    model = randomize_statistics_(tiny_model(name)).eval()
    x = _input(model)
    features, maps = model.forward_intermediates(x)
    torch.testing.assert_close(features, model.forward_features(x))
    assert [m.shape[1] for m in maps] == [info["num_chs"] for info in model.feature_info]
    for feature_map, info in zip(maps, model.feature_info, strict=True):
        reduction = info["reduction"]
        assert feature_map.shape == (BATCH, info["num_chs"], x.shape[2] // reduction, x.shape[3] // reduction)
    last_two = model.forward_intermediates(x, indices=2, intermediates_only=True)
    assert [m.shape for m in last_two] == [m.shape for m in maps[-2:]]


class TinyFpn(nn.Module):
    """A feature-pyramid neck and a dense head: lateral 1×1 convs, top-down sum, one 3×3 conv per level."""

    def __init__(self, channels: list[int], width: int = 8) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1) for c in channels)
        self.output = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in channels)

    def forward(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        laterals = [conv(m) for conv, m in zip(self.lateral, maps, strict=True)]
        for level in range(len(laterals) - 2, -1, -1):
            coarser = nn.functional.interpolate(laterals[level + 1], size=laterals[level].shape[-2:], mode="nearest")
            laterals[level] = laterals[level] + coarser
        return [conv(m) for conv, m in zip(self.output, laterals, strict=True)]


@pytest.mark.parametrize("name", NAMES)
def test_features_only_drives_an_fpn_and_backpropagates(name):
    kwargs = tiny_kwargs(name)
    backbone = timm.create_model(name, features_only=True, **kwargs).train()
    assert backbone.feature_info.channels() == list(kwargs["embed_dims"])
    reductions = backbone.feature_info.reduction()
    assert reductions == sorted(reductions)
    assert len(reductions) == 4
    size = kwargs["img_size"]
    maps = backbone(torch.randn(BATCH, 3, size, size))
    assert [m.shape for m in maps] == [
        (BATCH, c, size // r, size // r) for c, r in zip(kwargs["embed_dims"], reductions, strict=True)
    ]
    neck = TinyFpn(backbone.feature_info.channels())
    sum(level.square().mean() for level in neck(maps)).backward()
    stem_grads = [p.grad for n, p in backbone.named_parameters() if "stem" in n]
    assert stem_grads
    assert all(g is not None and g.abs().sum() > 0 for g in stem_grads)
    selected = timm.create_model(name, features_only=True, out_indices=(1, 3), **kwargs)
    assert selected.feature_info.channels() == [kwargs["embed_dims"][1], kwargs["embed_dims"][3]]


@pytest.mark.parametrize("name", FIXED_SIZE)
def test_checkpoint_loads_unchanged_at_its_size_and_resampled_at_another(name, tmp_path):
    source = randomize_statistics_(tiny_model(name)).eval()
    save_weights(source, tmp_path / "w.safetensors")
    overlay = dict(pretrained=True, pretrained_cfg_overlay=dict(file=str(tmp_path / "w.safetensors")))
    same = timm.create_model(name, **{**tiny_kwargs(name), **overlay}).eval()
    x = _input(source)
    with torch.no_grad():
        assert torch.equal(same(x), source(x))
    larger = tuple(side + source.input_stride for side in source.img_size)
    resampled = timm.create_model(name, **{**tiny_kwargs(name), "img_size": larger, **overlay}).eval()
    with torch.no_grad():
        assert torch.isfinite(resampled(_input(resampled))).all()
    # weights without a grid dimension are loaded as they are
    shared = {k: v for k, v in resampled.state_dict().items() if v.shape == source.state_dict()[k].shape}
    assert any(k.endswith("head.weight") for k in shared)
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in shared.items() if "norm" in k or "head" in k)


URL_NAMES = [name for name in NAMES if timm.models.get_pretrained_cfg(name).url]


@pytest.mark.parametrize("name", URL_NAMES)
def test_pretrained_true_downloads_the_authors_file_and_loads_it(name, tmp_path, monkeypatch):
    """``pretrained=True`` asks the downloader for the cfg's URL under a file name of its own and loads the file."""
    source = randomize_statistics_(tiny_model(name)).eval()
    save_weights(source, tmp_path / "downloaded.safetensors")
    requested = []

    def fake_fetch(url, filename, what):
        requested.append((url, filename))
        return tmp_path / "downloaded.safetensors"

    monkeypatch.setattr(_download, "fetch_url", fake_fetch)
    loaded = timm.create_model(name, pretrained=True, **tiny_kwargs(name)).eval()
    url, filename = requested[0]
    assert url.startswith("https://")
    assert filename.endswith(".pth")
    x = _input(source)
    with torch.no_grad():
        assert torch.equal(loaded(x), source(x))


def test_every_authors_download_is_cached_under_its_own_name():
    files = []
    for name in URL_NAMES:
        url = timm.models.get_pretrained_cfg(name).url
        files.append(url[1] if isinstance(url, tuple) else url.rsplit("/", 1)[1])
    assert len(set(files)) == len(files)


@pytest.mark.parametrize(("name", "kwargs", "listed"), [
    ("mlpv_smlpnet_t", dict(depths=(1, 1), embed_dims=(8, 16, 32)), "depths [1, 1] and embed_dims [8, 16, 32]"),
    ("mlpv_asmlp_t", dict(depths=(1, 1, 1), embed_dims=(8, 16)), "depths [1, 1, 1] and embed_dims [8, 16]"),
    ("mlpv_repmlpnet_t224", dict(depths=(1, 1), share_sets=(1,), embed_dims=(8, 16)),
     "depths [1, 1], embed_dims [8, 16] and share_sets [1]"),
])
def test_a_pyramid_refuses_per_stage_lists_of_unequal_length(name, kwargs, listed):
    with pytest.raises(ValueError, match=rf"^{re.escape(listed)} need one entry per stage$"):
        timm.create_model(name, img_size=64, **kwargs)
