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
from ._backbone import MlpBackbone, MlpStage, drop_path_rates, grid_of, patch_stem
from ._builder import IMAGENET_MEAN_STD, build_model, model_cfg


def s2mlp_block(dim: int, grid_size: Grid, drop_path: float, mlp_ratio: float = 4.0) -> MetaFormerBlock:
    """An S²-MLP block (§3.2): spatial-shift sub-block, then an ``mlp_ratio``·C channel MLP, both pre-LN."""
    return MetaFormerBlock(
        dim, SpatialShiftMixer(dim, grid_size), Mlp(dim, int(mlp_ratio * dim)), norm_layer=nn.LayerNorm,
        drop_path=drop_path,
    )


class S2Mlp(MlpBackbone):
    """S²-MLP: patch stem with LayerNorm, ``depth`` S²-MLP blocks, no final norm, token mean, linear classifier.

    Args:
        patch_size: side of the square patches.
        depth: number of blocks.
        embed_dim: channels C.
        mlp_ratio: the channel MLP's expansion r.
        img_size: the default input size (the shift has no grid-sized weights: any multiple of the patch works).
        in_chans, num_classes, global_pool, drop_rate: as ``MlpBackbone``.
        drop_path_rate: stochastic depth of the last block, linear from 0.
    """

    def __init__(
            self,
            patch_size: int,
            depth: int,
            embed_dim: int,
            mlp_ratio: float = 4.0,
            img_size: int | tuple[int, int] = 224,
            in_chans: int = 3,
            num_classes: int = 1000,
            global_pool: str = "avg",
            drop_rate: float = 0.0,
            drop_path_rate: float = 0.0,
    ) -> None:
        img_size = self.check_img_size(img_size, patch_size)
        grid = grid_of(img_size, patch_size)
        blocks = [s2mlp_block(embed_dim, grid, rate, mlp_ratio) for rate in drop_path_rates(drop_path_rate, depth)]
        super().__init__(
            stem=patch_stem(img_size, patch_size, in_chans, embed_dim, norm_layer=nn.LayerNorm),
            stem_stride=patch_size, stages=[MlpStage(embed_dim, blocks)], norm=nn.Identity(), num_features=embed_dim,
            img_size=img_size, in_chans=in_chans, num_classes=num_classes, global_pool=global_pool,
            drop_rate=drop_rate, size_agnostic=True,
        )
        self.patch_size, self.grid_size, self.embed_dim = patch_size, grid, embed_dim


def _create_s2mlp(variant: str, pretrained: bool, variant_args: dict, **kwargs) -> S2Mlp:
    """Build ``variant`` from its hyper-parameters; keyword arguments override them."""
    return build_model(S2Mlp, variant, pretrained, **{**variant_args, **kwargs})


def _cfg(paper_name: str, count_source: str, **kwargs) -> dict:
    return model_cfg(
        paper_name=paper_name, arxiv="2106.07477", code_url="https://github.com/liuruiyang98/Jittor-MLP",
        license="mit", count_source=count_source, mean_std=IMAGENET_MEAN_STD, fixed_input_size=False,
        feature_stride=16, **kwargs,
    )


default_cfgs = generate_default_cfgs({
    "mlpv_s2mlp_wide.untrained": _cfg(
        "S2-MLP-wide", "paper formula incl. LayerNorm after patch embedding (unofficial port without it: 72239848)"),
    "mlpv_s2mlp_deep.untrained": _cfg(
        "S2-MLP-deep", "paper formula incl. LayerNorm after patch embedding (unofficial port without it: 53916520)"),
})


@register_model
def mlpv_s2mlp_wide(pretrained: bool = False, **kwargs) -> S2Mlp:
    """S²-MLP-wide (paper Table 2): 12 blocks, C 768, r 4, patch 16."""
    return _create_s2mlp("mlpv_s2mlp_wide", pretrained, dict(patch_size=16, depth=12, embed_dim=768), **kwargs)


@register_model
def mlpv_s2mlp_deep(pretrained: bool = False, **kwargs) -> S2Mlp:
    """S²-MLP-deep (paper Table 2): 36 blocks, C 384, r 4, patch 16."""
    return _create_s2mlp("mlpv_s2mlp_deep", pretrained, dict(patch_size=16, depth=36, embed_dim=384), **kwargs)


