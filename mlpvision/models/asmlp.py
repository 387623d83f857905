"""AS-MLP: An Axial Shifted MLP Architecture for Vision (Lian et al., ICLR 2022), https://arxiv.org/abs/2107.08391.

Official code: svip-lab/AS-MLP @ dd1eb4f768f46fdf7c8522fd535ea9e15f664fae (``models/as_mlp.py``, ``configs/*.yaml``,
MIT). Swin's four-stage layout without windows, NCHW throughout, every linear a 1×1 convolution as in the code:
a 4×4 stride-4 patch embedding with a norm; in every block ``x = x + DP(AxialShift(Norm(x)))`` then
``x = x + DP(Mlp(Norm(x)))`` (``layers/axial_shift.py``; GELU MLP of ratio 4); between stages Swin's patch merging
(the 2×2 neighbours concatenated in the code's order, a norm, a bias-free 1×1 convolution to twice the channels);
final norm, mean over the grid, linear classifier. Every norm is the code's ``MyNorm``, a GroupNorm with one group.
The shift has no window and nothing sized by the grid: any image whose sides are multiples of 32 works (the code's
patch embedding asserts the built size; ours does not).

Where we differ from the code, for the same function: the patch merging sits at the start of the next stage, not at
the end of the current one, so ``stages.{s}`` ends at stride ``4·2^s`` (the feature maps detection necks take).
Stochastic depth grows linearly over all blocks to the training configs' rate: 0.2 (T), 0.3 (S), 0.5 (B).
The code's ``drop_rate`` (dropout after the stem and inside the MLPs, 0 in every config) is not offered;
``drop_rate`` here is the dropout before the classifier, as in timm. Init as the code: truncated normal (0.02) for
the classifier with a zero bias, PyTorch's defaults for the convolutions and norms.

Checkpoints: ours; the authors' layout (``patch_embed``, ``layers.{s}.blocks.{j}.axial_shift.conv1`` …,
``layers.{s}.downsample``), bare or nested under ``model`` as their ``save_checkpoint`` writes it (utils.py:41-46,
with the optimizer, scheduler and yacs ``config``, read without running code); ``model`` is what their evaluation
loads (utils.py:20). Released
weights: the authors' README links OneDrive pages, which give no direct download, so each cfg says how to fetch the
file by hand; the weights are the authors', not trained by us.
"""

import re

import torch
from timm.layers import GroupNorm1, Mlp, trunc_normal_
from timm.models import generate_default_cfgs, register_model
from timm.models._builder import resolve_pretrained_cfg
from torch import nn

from ..layers.axial_shift import AxialShift
from ..layers.blocks import MetaFormerBlock
from ..layers.conv_embed import ConvEmbed
from ._backbone import MlpBackbone, MlpStage, stage_dims
from ._builder import IMAGENET_MEAN_STD, build_model, model_cfg
from ._weights import StateDict, register_weights, rename_keys


class PatchMerging(nn.Module):
    """Swin's patch merging on NCHW (code: ``PatchMerging``): ``[x₀₀, x₁₀, x₀₁, x₁₁]`` → Norm → 1×1 conv.

    ``x_{ij}`` is the map at rows ``i::2`` and columns ``j::2``; they are concatenated along the channels in the
    code's order (row offset first), normalised and projected without bias.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm = GroupNorm1(4 * in_dim)
        self.reduction = nn.Conv2d(4 * in_dim, out_dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], dim=1)
        return self.reduction(self.norm(x))


def asmlp_block(dim: int, drop_path: float, shift_size: int, mlp_ratio: float) -> MetaFormerBlock:
    """An AS-MLP block (code: ``AxialShiftedBlock``): pre-norm residual axial shift, pre-norm residual 1×1-conv MLP."""
    mlp = Mlp(dim, int(dim * mlp_ratio), use_conv=True)
    return MetaFormerBlock(dim, AxialShift(dim, shift_size=shift_size), mlp, norm_layer=GroupNorm1,
                           drop_path=drop_path)


# ---- checkpoint layout -------------------------------------------------------------------------------------

_BLOCK = r"^layers\.(\d+)\.blocks\.(\d+)\."
_OFFICIAL_RENAMES = (
    (re.compile(r"^patch_embed\."), "stem."),
    (re.compile(_BLOCK + r"axial_shift\.conv1\."), r"stages.\1.blocks.\2.token_mixer.fc1."),
    (re.compile(_BLOCK + r"axial_shift\.conv2_1\."), r"stages.\1.blocks.\2.token_mixer.fc_horizontal."),
    (re.compile(_BLOCK + r"axial_shift\.conv2_2\."), r"stages.\1.blocks.\2.token_mixer.fc_vertical."),
    (re.compile(_BLOCK + r"axial_shift\.conv3\."), r"stages.\1.blocks.\2.token_mixer.fc2."),
    (re.compile(_BLOCK + r"axial_shift\.(norm[12])\."), r"stages.\1.blocks.\2.token_mixer.\3."),
    (re.compile(_BLOCK), r"stages.\1.blocks.\2."),  # norm1, norm2, mlp.fc1, mlp.fc2 keep their names
    (re.compile(r"^layers\.(\d+)\.downsample\."), lambda m: f"stages.{int(m[1]) + 1}.downsample."),
)


def convert_official_layout(state: StateDict) -> StateDict:
    """The official ``AS_MLP`` keys → ours (the merging after stage s is the transition into stage s + 1)."""
    return rename_keys(state, _OFFICIAL_RENAMES, first_match=True)


def checkpoint_filter_fn(state: StateDict, model: nn.Module) -> StateDict:
    """Official layout (sentinel ``patch_embed.proj.weight``) → ours; ours passes unchanged."""
    if "patch_embed.proj.weight" in state:
        return convert_official_layout(state)
    return state


# ---- variants ----------------------------------------------------------------------------------------------

_ONEDRIVE = "https://shanghaitecheducn-my.sharepoint.com/:u:/g/personal/liandz_shanghaitech_edu_cn/"
_RELEASES = {  # variant → (the authors' README link, the file name their test script loads)
    "mlpv_asmlp_t": (_ONEDRIVE + "Eb2lPJI2BshEjJxf9CmRkCUBnB63Wj25-FVVc6zJvgRg6w?e=dEQd5q",
                     "asmlp_tiny_patch4_shift5_224.pth"),
    "mlpv_asmlp_s": (_ONEDRIVE + "EVIbw8xHKk1Aq9MBQL-cRbIBVJA_hJE-HEVNf_GVgkw2iQ?e=QIIp2e",
                     "asmlp_small_patch4_shift5_224.pth"),
    "mlpv_asmlp_b": (_ONEDRIVE + "EZVBFW_LKctLqgrnnINy88wBRtGFava9wp_65emsvVW2KQ?e=clNjuw",
                     "asmlp_base_patch4_shift5_224.pth"),
}


def _fetch_by_hand(variant: str) -> str:
    page, file = _RELEASES[variant]
    return (
        f"the authors' {variant} weights are on a OneDrive page with no direct download: open {page} in a browser, "
        f"download the file ({file}), then load it with timm.create_model('{variant}', pretrained=True, "
        f"pretrained_cfg_overlay=dict(file='{file}'))"
    )


# ---- the model --------------------------------------------------------------------------------------------


class AsMlp(MlpBackbone):
    """AS-MLP: a 4×4/4 patch embedding with a norm, four stages of axial-shift blocks joined by 2×2 patch mergings,
    a final norm, mean over the grid, linear classifier; NCHW throughout, every norm a one-group GroupNorm.

    Args:
        depths: blocks per stage.
        embed_dims: channels per stage.
        shift_size: the axial shift's channel groups (its reach along each axis).
        mlp_ratio: the channel MLP's expansion.
        img_size: the nominal input size (nothing is sized by it: any multiple of 32 runs).
        in_chans, num_classes, global_pool, drop_rate: as ``MlpBackbone``.
        drop_path_rate: stochastic depth of the last block, linear from 0 over all blocks.
    """

    checkpoint_filter = staticmethod(checkpoint_filter_fn)

    def __init__(
            self,
            depths: tuple[int, ...],
            embed_dims: tuple[int, ...],
            shift_size: int = 5,
            mlp_ratio: float = 4.0,
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
            blocks = [asmlp_block(dim, next(rates), shift_size, mlp_ratio) for _ in range(depth)]
            merging = PatchMerging(embed_dims[index - 1], dim) if index > 0 else None
            stages.append(MlpStage(dim, blocks, merging, stride=1 if index == 0 else 2))
        # the code's PatchEmbed with patch_norm: a 4×4 stride-4 convolution, then a norm
        stem = ConvEmbed(in_chans, embed_dims[0], kernel_size=4, stride=4, norm_layer=GroupNorm1)
        super().__init__(
            stem=stem, stem_stride=4, stages=stages, norm=GroupNorm1(embed_dims[-1]), num_features=embed_dims[-1],
            img_size=img_size, in_chans=in_chans, num_classes=num_classes, global_pool=global_pool,
            drop_rate=drop_rate, size_agnostic=True,
        )
        # the code's _init_weights: only linears (the classifier) are re-initialised; the rest keep PyTorch's
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)


def _create_asmlp(variant: str, pretrained: bool, variant_args: dict, **kwargs) -> AsMlp:
    """Build ``variant`` from its hyper-parameters; keyword arguments override them."""
    if pretrained:
        cfg = resolve_pretrained_cfg(variant, kwargs.get("pretrained_cfg"), kwargs.get("pretrained_cfg_overlay"))
        if not (cfg.has_weights or cfg.state_dict):
            raise ValueError(_fetch_by_hand(variant))
    return build_model(AsMlp, variant, pretrained, default_out_indices=(0, 1, 2, 3), **{**variant_args, **kwargs})


def _cfg(variant: str, paper_name: str, config: str, top1: float, readme_line: int) -> dict:
    """The authors' ImageNet-1k weights, which ``pretrained=True`` cannot fetch (``_fetch_by_hand``); evaluated as
    their ``main.py --eval --resume``: ``checkpoint['model']`` (utils.py:20), resized to 256/224 of the size, centre
    crop, bicubic (data/build.py:112-119; config.py:24 bicubic, :136 TEST.CROP True)."""
    count_source = f"official AS_MLP {config}"
    return model_cfg(
        paper_name=paper_name, arxiv="2107.08391", code_url="https://github.com/svip-lab/AS-MLP", license="mit",
        count_source=count_source, mean_std=IMAGENET_MEAN_STD, crop_pct=0.875, fixed_input_size=False,
        feature_stride=32, weights_key="model", weights_key_source="AS-MLP utils.py:20 (load_checkpoint, main.py:119)",
        preprocessing_source="AS-MLP data/build.py:112-119 (Resize(int(256/224*224)) bicubic, CenterCrop 224)",
        top1=top1, top1_source=f"AS-MLP README.md:{readme_line}", page=_RELEASES[variant][0],
        notes=(f"parameter count source: {count_source}",
               "weights: the authors' (ImageNet-1k), not trained by us; " + _fetch_by_hand(variant)),
    )


default_cfgs = generate_default_cfgs(register_weights({
    "mlpv_asmlp_t.official_in1k": _cfg("mlpv_asmlp_t", "AS-MLP-T", "as_tiny_patch4_shift5_224", 81.3, 11),
    "mlpv_asmlp_s.official_in1k": _cfg("mlpv_asmlp_s", "AS-MLP-S", "as_small_patch4_shift5_224", 83.1, 12),
    "mlpv_asmlp_b.official_in1k": _cfg("mlpv_asmlp_b", "AS-MLP-B", "as_base_patch4_shift5_224", 83.3, 13),
}))


@register_model
def mlpv_asmlp_t(pretrained: bool = False, **kwargs) -> AsMlp:
    """AS-MLP-T (``as_tiny_patch4_shift5_224.yaml``): C 96, blocks 2-2-6-2, shift 5, drop path 0.2."""
    args = dict(depths=(2, 2, 6, 2), embed_dims=stage_dims(96), drop_path_rate=0.2)
    return _create_asmlp("mlpv_asmlp_t", pretrained, args, **kwargs)


@register_model
def mlpv_asmlp_s(pretrained: bool = False, **kwargs) -> AsMlp:
    """AS-MLP-S (``as_small_patch4_shift5_224.yaml``): C 96, blocks 2-2-18-2, shift 5, drop path 0.3."""
    args = dict(depths=(2, 2, 18, 2), embed_dims=stage_dims(96), drop_path_rate=0.3)
    return _create_asmlp("mlpv_asmlp_s", pretrained, args, **kwargs)


@register_model
def mlpv_asmlp_b(pretrained: bool = False, **kwargs) -> AsMlp:
    """AS-MLP-B (``as_base_patch4_shift5_224.yaml``): C 128, blocks 2-2-18-2, shift 5, drop path 0.5."""
    args = dict(depths=(2, 2, 18, 2), embed_dims=stage_dims(128), drop_path_rate=0.5)
    return _create_asmlp("mlpv_asmlp_b", pretrained, args, **kwargs)
