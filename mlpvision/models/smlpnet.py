"""sMLPNet: Sparse MLP for Image Recognition: Is Self-Attention Really Necessary? (Tang et al., AAAI 2022),
https://arxiv.org/abs/2109.05422.

Official code: microsoft/SPACH @ dcede1e86c9e183d4a734c67f8528d291d1c29d1 (``models/smlp.py``, ``models/registry.py``,
MIT). A four-stage NCHW network: a bias-free 4×4/4 convolution stem, bias-free 2×2/2 convolutions doubling the
channels between stages (no norms), and in every layer ``x = x + DropPath(TokenMix(x))`` with
``TokenMix = sMLP(GELU(BN(DWConv3×3(GELU(BN(x))))))`` (one residual around the depthwise convolution and the sparse
MLP together), then ``x = x + DropPath(MLP(LN(x)))`` with LayerNorm (eps 1e-5) over channels and an ``α = 3``
channel MLP. Head: BatchNorm2d, mean over the grid, linear classifier. Init: PyTorch defaults (as the code).

Where the paper and the code differ, we follow the code (the released weights need it):

* ``proj_h`` (a ``Conv2d(H, H, 1)`` applied after ``permute(0, 3, 1, 2)``) mixes the **width** axis and ``proh_w``
  the **height** axis, the opposite of their names; ours are ``mix_width`` (``W×W``) and ``mix_height`` (``H×H``),
  separate, so that non-square inputs build (the code asserts ``H == W``).
* The fuse convolution reads ``concat[x, x_h, x_w]`` in the code's names (= ``[x, width-mixed, height-mixed]``);
  the paper's Alg. 1 concatenates ``[x_h, x_w, x]``.
* Both token-mixing sub-blocks are pre-activated with BatchNorm + GELU (``BN_Activ_Conv``, ``sMLPBlock.BN``); the
  paper's Alg. 1 has no norm or activation inside the sMLP.
* Stochastic depth grows linearly over all blocks to ``dp_rate`` of ``registry.py``: 0.0 (T), 0.2 (S), 0.3 (B),
  the paper's rates too. The ``--drop-path`` argument of the authors' ``main.py`` never reaches the model (the
  constructor swallows it in ``**kwargs``), so the registry's rate is the effective one.

Checkpoints: ours; the authors' layout as in ``models/smlp.py`` at the commit above (``to_patch_embedding.{s}.0``,
``token_mix.{k}.{0,1}``, ``channel_mix.{k}.{1,2}`` with ``k`` counting blocks over all stages, ``batch_norm``,
``mlp_head.0``), including the released ``smlp_s.pth`` / ``smlp_b.pth`` (SPACH release v1.0; none for T).
"""

import re

import torch
from timm.layers import DropPath, Mlp
from timm.models import generate_default_cfgs, register_model
from torch import nn

from ..layers.conv_embed import ConvEmbed
from ..layers.sparse_mlp import SparseMlp
from ..layers.token_mixer import Grid
from ._backbone import MlpBackbone, MlpStage, grid_of, stage_dims
from ._builder import IMAGENET_MEAN_STD, build_model, model_cfg
from ._weights import StateDict, register_weights


class SparseMlpBlock(nn.Module):
    """One sMLPNet layer (NCHW): ``x + DP(sMLP(GELU(BN(DWConv(GELU(BN(x)))))))``, then ``x + DP(MLP(LN(x)))``.

    Args:
        dim: channels.
        grid_size: the stage's token grid (sizes the sparse MLP's two mixing matrices).
        mlp_ratio: channel-MLP expansion ``α``.
        drop_path: stochastic-depth rate of both residual branches.
    """

    layout = "NCHW"

    def __init__(self, dim: int, grid_size: Grid, mlp_ratio: float = 3.0, drop_path: float = 0.0) -> None:
        super().__init__()
        self.dwconv_norm = nn.BatchNorm2d(dim)
        self.dwconv_act = nn.GELU()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim, bias=False)
        self.smlp_norm = nn.BatchNorm2d(dim)
        self.smlp_act = nn.GELU()
        self.token_mixer = SparseMlp(dim, grid_size)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.channel_norm = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(mlp_ratio * dim))
        self.drop_path2 = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local = self.dwconv(self.dwconv_act(self.dwconv_norm(x)))
        x = x + self.drop_path1(self.token_mixer(self.smlp_act(self.smlp_norm(local))))
        channels_last = x.permute(0, 2, 3, 1)
        return x + self.drop_path2(self.mlp(self.channel_norm(channels_last)).permute(0, 3, 1, 2))


def smlpnet_conv(in_dim: int, out_dim: int, stride: int) -> ConvEmbed:
    """The stem (4×4/4) and the patch merging between stages (2×2/2, the paper's linear layer on concatenated 2×2
    features): a bias-free ``stride×stride`` convolution of stride ``stride``, no norm (code)."""
    return ConvEmbed(in_dim, out_dim, kernel_size=stride, stride=stride, bias=False)


# ---- checkpoint layout -------------------------------------------------------------------------------------

_SPACH_BLOCK_MODULES = {
    "token_mix.0.conv_merge.BN": "dwconv_norm",
    "token_mix.0.conv_merge.Conv": "dwconv",
    "token_mix.1.BN": "smlp_norm",
    "token_mix.1.proj_h": "token_mixer.mix_width",
    "token_mix.1.proh_w": "token_mixer.mix_height",
    "token_mix.1.fuse": "token_mixer.fusion",
    "channel_mix.1": "channel_norm",
    "channel_mix.2.net.0": "mlp.fc1",
    "channel_mix.2.net.3": "mlp.fc2",
}
_SPACH_BLOCK_KEY = re.compile(r"^(token_mix|channel_mix)\.(\d+)\.(.+)\.(\w+)$")
_SPACH_MIXING_MATRICES = ("token_mixer.mix_width", "token_mixer.mix_height")


def convert_spach_layout(state: StateDict, depths: list[int]) -> StateDict:
    """The SPACH ``sMLPNet`` keys → ours: global block ``k`` → ``stages.{s}.blocks.{j}``, 1×1 mixing convs → matrices.

    Keys it does not know are passed on, for the strict load to report.
    """
    block_places = [(stage, index) for stage, depth in enumerate(depths) for index in range(depth)]
    out = {}
    for key, value in state.items():
        match = _SPACH_BLOCK_KEY.match(key)
        if key.startswith("to_patch_embedding."):
            stage, leaf = int(key.split(".")[1]), key.split(".")[-1]
            key = f"stem.proj.{leaf}" if stage == 0 else f"stages.{stage}.downsample.proj.{leaf}"
        elif key.startswith("batch_norm."):
            key = "norm." + key.removeprefix("batch_norm.")
        elif key.startswith("mlp_head.0."):
            key = "head." + key.removeprefix("mlp_head.0.")
        elif match and int(match[2]) < len(block_places) and f"{match[1]}.{match[3]}" in _SPACH_BLOCK_MODULES:
            stage, index = block_places[int(match[2])]
            module = _SPACH_BLOCK_MODULES[f"{match[1]}.{match[3]}"]
            if module in _SPACH_MIXING_MATRICES and match[4] == "weight":
                value = value.flatten(1)  # Conv2d(n, n, 1) weight (n, n, 1, 1) → Linear weight (n, n)
            key = f"stages.{stage}.blocks.{index}.{module}.{match[4]}"
        out[key] = value
    return out


def checkpoint_filter_fn(state: StateDict, model: nn.Module) -> StateDict:
    """SPACH layout (sentinel: ``token_mix.`` keys) → ours; ours passes unchanged, and our earlier name of the channel
    norm (``mlp_norm``: torchvision's FX tracer misreads it beside ``mlp`` as ``mlp`` + a suffix) becomes
    ``channel_norm``."""
    if any(key.startswith("token_mix.") for key in state):
        return convert_spach_layout(state, [len(stage.blocks) for stage in model.stages])
    return {key.replace(".mlp_norm.", ".channel_norm."): value for key, value in state.items()}


# ---- the model --------------------------------------------------------------------------------------------


class SMlpNet(MlpBackbone):
    """sMLPNet: a 4×4/4 convolution stem, four stages of sMLP layers joined by 2×2/2 patch merging, BatchNorm, mean
    over the grid, linear classifier; NCHW throughout.

    Args:
        depths: layers per stage.
        embed_dims: channels per stage.
        mlp_ratio: the channel MLP's expansion ``α``.
        img_size: input size the sparse MLPs' mixing matrices are built for.
        in_chans, num_classes, global_pool, drop_rate: as ``MlpBackbone``.
        drop_path_rate: stochastic depth of the last layer, linear from 0 over all layers.
    """

    checkpoint_filter = staticmethod(checkpoint_filter_fn)

    def __init__(
            self,
            depths: tuple[int, ...],
            embed_dims: tuple[int, ...],
            mlp_ratio: float = 3.0,
            img_size: int | tuple[int, int] = 224,
            in_chans: int = 3,
            num_classes: int = 1000,
            global_pool: str = "avg",
            drop_rate: float = 0.0,
            drop_path_rate: float = 0.0,
    ) -> None:
        img_size, rates = self.check_pyramid(img_size, drop_path_rate, depths, embed_dims=embed_dims)
        stages = []
        for index, (depth, dim) in enumerate(zip(depths, embed_dims, strict=True)):
            stride = 1 if index == 0 else 2
            grid = grid_of(img_size, 4 * 2 ** index)
            blocks = [SparseMlpBlock(dim, grid, mlp_ratio, next(rates)) for _ in range(depth)]
            transition = smlpnet_conv(embed_dims[index - 1], dim, stride) if index > 0 else None
            stages.append(MlpStage(dim, blocks, transition, stride))
        super().__init__(
            stem=smlpnet_conv(in_chans, embed_dims[0], 4), stem_stride=4, stages=stages,
            norm=nn.BatchNorm2d(embed_dims[-1]), num_features=embed_dims[-1], img_size=img_size, in_chans=in_chans,
            num_classes=num_classes, global_pool=global_pool, drop_rate=drop_rate,
        )


def _create_smlpnet(variant: str, pretrained: bool, variant_args: dict, **kwargs) -> SMlpNet:
    """Build ``variant`` from its hyper-parameters; keyword arguments override them."""
    return build_model(SMlpNet, variant, pretrained, default_out_indices=(0, 1, 2, 3), **{**variant_args, **kwargs})


def _cfg(paper_name: str, count_source: str, **kwargs) -> dict:
    return model_cfg(
        paper_name=paper_name, arxiv="2109.05422", code_url="https://github.com/microsoft/SPACH", license="mit",
        count_source=count_source, mean_std=IMAGENET_MEAN_STD, feature_stride=32, **kwargs,
    )


_RELEASES = "https://github.com/microsoft/SPACH/releases/download/v1.0"

# The authors evaluate with main.py --eval --resume (README.md:69): checkpoint['model'] (main.py:390-391) at
# Resize(int(256/224·224)) bicubic + CenterCrop 224 (datasets.py:50-55), the cfg's crop 0.875 bicubic.
_EVAL = dict(
    weights_key="model", weights_key_source="SPACH main.py:390-391 (--eval --resume reads checkpoint['model'])",
    preprocessing_source="SPACH datasets.py:50-55 (Resize(int(256/224*224)) bicubic, CenterCrop 224)",
)

default_cfgs = generate_default_cfgs(register_weights({
    "mlpv_smlpnet_t.untrained": _cfg("sMLPNet-T", "official sMLPNet(dim 80; depths 2-8-14-2; alpha 3)",
                                     top1_source="SPACH README.md:26 reports 81.9 but no file was released", **_EVAL),
    "mlpv_smlpnet_s.official_in1k": _cfg(
        "sMLPNet-S", "official sMLPNet(dim 96; depths 2-10-24-2)", url=f"{_RELEASES}/smlp_s.pth", top1=83.1,
        top1_source="SPACH README.md:27", page=f"{_RELEASES}/smlp_s.pth", **_EVAL),
    "mlpv_smlpnet_b.official_in1k": _cfg(
        "sMLPNet-B", "official sMLPNet(dim 112; depths 2-10-24-2)", url=f"{_RELEASES}/smlp_b.pth", top1=83.4,
        top1_source="SPACH README.md:28", page=f"{_RELEASES}/smlp_b.pth", **_EVAL),
}))


@register_model
def mlpv_smlpnet_t(pretrained: bool = False, **kwargs) -> SMlpNet:
    """sMLPNet-T (paper Table 6, official ``smlpnet_tiny``): C 80, depths 2-8-14-2, α 3, drop path 0."""
    args = dict(depths=(2, 8, 14, 2), embed_dims=stage_dims(80), drop_path_rate=0.0)
    return _create_smlpnet("mlpv_smlpnet_t", pretrained, args, **kwargs)


@register_model
def mlpv_smlpnet_s(pretrained: bool = False, **kwargs) -> SMlpNet:
    """sMLPNet-S (paper Table 6, official ``smlpnet_small``): C 96, depths 2-10-24-2, α 3, drop path 0.2."""
    args = dict(depths=(2, 10, 24, 2), embed_dims=stage_dims(96), drop_path_rate=0.2)
    return _create_smlpnet("mlpv_smlpnet_s", pretrained, args, **kwargs)


@register_model
def mlpv_smlpnet_b(pretrained: bool = False, **kwargs) -> SMlpNet:
    """sMLPNet-B (paper Table 6, official ``smlpnet_base``): C 112, depths 2-10-24-2, α 3, drop path 0.3."""
    args = dict(depths=(2, 10, 24, 2), embed_dims=stage_dims(112), drop_path_rate=0.3)
    return _create_smlpnet("mlpv_smlpnet_b", pretrained, args, **kwargs)
