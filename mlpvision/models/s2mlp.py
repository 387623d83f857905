"""S²-MLP: Spatial-Shift MLP Architecture for Vision (Yu et al., WACV 2022), https://arxiv.org/abs/2106.07477.

No official code (the paper promises PaddlePaddle code); the unofficial PyTorch port is liuruiyang98/Jittor-MLP @
5e27ae3862ab1317a6a6d75caa088cfa505cb257 (``models_pytorch/s2_mlp_v1.py``, MIT). We follow the paper where the port
differs: a LayerNorm after the patch embedding (``eᵢ = LN(W₀pᵢ + b₀)``, §3.2; the port omits it, 1,536 / 768 fewer
parameters), and an out-of-place spatial shift (the port's in-place slice copy propagates border values). Each block:
``x + FC₂(Shift(GELU(FC₁(LN(x)))))`` then ``x + MLP(LN(x))`` with a 4·C MLP; LayerNorm eps 1e-5 (``nn.LayerNorm``
default, as the port); average pooling and a linear classifier, no final norm. The shift has no grid-sized
weights, so the model takes any input whose sides are multiples of 16. Init: PyTorch defaults (as the port).
"""


from timm.layers import Mlp
from timm.models import generate_default_cfgs, register_model
from torch import nn

from ..layers import Grid, MetaFormerBlock, SpatialShiftMixer
from ._backbone import MlpBackbone
from ._builder import IMAGENET_MEAN_STD, build_model, model_cfg


def s2mlp_block(dim: int, grid_size: Grid, drop_path: float, mlp_ratio: float = 4.0) -> MetaFormerBlock:
    """An S²-MLP block (§3.2): spatial-shift sub-block, then an ``mlp_ratio``·C channel MLP, both pre-LN."""
    return MetaFormerBlock(
        dim, SpatialShiftMixer(dim, grid_size), Mlp(dim, int(mlp_ratio * dim)), norm_layer=nn.LayerNorm,
        drop_path=drop_path,
    )


def _create_s2mlp(variant: str, pretrained: bool, variant_args: dict, **kwargs) -> MlpBackbone:
    """Build ``variant`` from its hyper-parameters; keyword arguments override them."""
    kwargs = {**variant_args, **kwargs}
    kwargs.setdefault("block_fn", s2mlp_block)
    kwargs.setdefault("stem_norm_layer", nn.LayerNorm)
    kwargs.setdefault("size_agnostic", True)
    return build_model(MlpBackbone, variant, pretrained, None, **kwargs)


def _cfg(paper_name: str, count_source: str, **kwargs) -> dict:
    return model_cfg(
        paper_name=paper_name, arxiv="2106.07477", code_url="https://github.com/liuruiyang98/Jittor-MLP",
        license="mit", count_source=count_source, mean_std=IMAGENET_MEAN_STD, fixed_input_size=False, **kwargs,
    )


default_cfgs = generate_default_cfgs({
    "mlpv_s2mlp_wide.untrained": _cfg(
        "S2-MLP-wide", "paper formula incl. LayerNorm after patch embedding (unofficial port without it: 72239848)"),
    "mlpv_s2mlp_deep.untrained": _cfg(
        "S2-MLP-deep", "paper formula incl. LayerNorm after patch embedding (unofficial port without it: 53916520)"),
})


@register_model
def mlpv_s2mlp_wide(pretrained: bool = False, **kwargs) -> MlpBackbone:
    """S²-MLP-wide (paper Table 2): 12 blocks, C 768, r 4, patch 16."""
    return _create_s2mlp("mlpv_s2mlp_wide", pretrained, dict(patch_size=16, depth=12, embed_dim=768), **kwargs)


@register_model
def mlpv_s2mlp_deep(pretrained: bool = False, **kwargs) -> MlpBackbone:
    """S²-MLP-deep (paper Table 2): 36 blocks, C 384, r 4, patch 16."""
    return _create_s2mlp("mlpv_s2mlp_deep", pretrained, dict(patch_size=16, depth=36, embed_dim=384), **kwargs)


