"""Vision Permutator (Hou et al., TPAMI 2022), https://arxiv.org/abs/2106.12368.

Official code: Andrew-Qibin/VisionPermutator @ 2cab2cedecfcc6aa938a341276a61fc6d6505579 (``models/vip.py``);
this file's key mapping follows that commit. Where paper and code differ, the code is followed:

* ViP-L/7 has 8 blocks at the 32×32 grid and 28 at 16×16 (``layers=[8, 8, 16, 4]``); the paper's Table 1 says
  9/27, which gives ≈85.6M parameters instead of the reported 88M.
* The weighted Permute-MLP (split attention over the height, width and channel branches) is the block used,
  with the code's contiguous channel segments (``layers/permute_mlp.py``).
* Drop path grows linearly over all blocks; the model default is 0 as in the builders (the paper trains with
  0.1 / 0.1 / 0.2 / 0.3 for S/14, S/7, M/7, L/7). LayerNorm eps 1e-5. Init: truncated normal (0.02) linears.

Checkpoints: ours; the authors' (``patch_embed``, ``network.{j}.{k}.attn.mlp_h`` …, bare or in a timm train.py
checkpoint, whose ``state_dict`` is read: the authors' validate.py evaluates it, not ``state_dict_ema``). The
released weights are on Google Drive (links in the authors' README); ``pretrained=True`` fetches them through
Drive's download address and its confirmation form (``_download.py``). Preprocessing: the authors' validate.py
at the model's default_cfg (crop 0.9 for S and M, 0.875 for L, bicubic), cited at the cfgs.
"""

from collections.abc import Sequence
from functools import partial

from timm.models import generate_default_cfgs, register_model

from ..layers.permute_mlp import WeightedPermuteMlp
from ._builder import IMAGENET_MEAN_STD, build_model, model_cfg
from ._download import google_drive_url
from ._permutator import Permutator
from ._weights import register_weights


class VisionPermutator(Permutator):
    """Vision Permutator: a ``patch_size`` patch stem, stages of weighted Permute-MLP blocks, 2×2/2 transitions.

    Args:
        patch_size: side of the square patches (the stem's kernel and stride).
        segment_dims: per stage, the Permute-MLP's channel segments.
        **kwargs: ``Permutator``'s ``depths``, ``embed_dims``, ``transitions``, ``mlp_ratios``, ``img_size`` …
    """

    def __init__(self, patch_size: int, segment_dims: Sequence[int], **kwargs) -> None:
        super().__init__(
            stage_mixers=[partial(WeightedPermuteMlp, segment_dim=segments) for segments in segment_dims],
            stem=dict(kernel_size=patch_size, stride=patch_size, padding=0), downsample=dict(kernel_size=2, padding=0),
            **kwargs,
        )


def _create_vip(variant: str, pretrained: bool, variant_args: dict, **kwargs) -> VisionPermutator:
    """Build ``variant`` from its hyper-parameters; keyword arguments override them."""
    return build_model(VisionPermutator, variant, pretrained, default_out_indices=(0, 1, 2, 3),
                       **{**variant_args, **kwargs})


def _cfg(paper_name: str, count_source: str, **kwargs) -> dict:
    return model_cfg(
        paper_name=paper_name, arxiv="2106.12368", code_url="https://github.com/Andrew-Qibin/VisionPermutator",
        license="mit (README: non-commercial use only)", count_source=count_source, mean_std=IMAGENET_MEAN_STD,
        first_conv="stem.proj", feature_stride=14, **kwargs,
    )


# The authors evaluate with their validate.py (eval.sh:13): load_checkpoint(model, checkpoint, args.use_ema)
# (validate.py:150) with --use-ema off (validate.py:98), i.e. 'state_dict' of a timm train.py checkpoint, at the
# model's default_cfg (validate.py:155, 192): crop 0.9 for S and M, 0.875 for L, bicubic (models/vip.py:12, 18-20).
_EVAL = dict(
    weights_key="state_dict",
    weights_key_source="VisionPermutator validate.py:150 (load_checkpoint with use_ema off, validate.py:98)",
    preprocessing_source="VisionPermutator validate.py:155,192 with models/vip.py:12,18-20 (bicubic; crop 0.9 S/M, "
                         "0.875 L)",
    top1_source="VisionPermutator README.md:{}",
)


def _drive(file_id: str, filename: str, readme_line: int) -> dict:
    return dict(url=google_drive_url(file_id, filename), page=f"https://drive.google.com/file/d/{file_id}/view",
                top1_source=_EVAL["top1_source"].format(readme_line))


default_cfgs = generate_default_cfgs(register_weights({
    "mlpv_vip_s14.untrained": _cfg("ViP-Small/14", "official vip_s14", crop_pct=0.9,
                                   **{**_EVAL, "top1_source": "no file released"}),
    "mlpv_vip_s7.in1k": _cfg("ViP-Small/7", "official vip_s7", crop_pct=0.9, top1=81.5,
                             **{**_EVAL, **_drive("1cX6eauDrsGsLSZnqsX7cl0oiKX8Dzv5z", "vip_s7.pth", 25)}),
    "mlpv_vip_m7.in1k": _cfg("ViP-Medium/7", "official vip_m7", crop_pct=0.9, top1=82.7,
                             **{**_EVAL, **_drive("15y5WMypthpbBFdc01E3mJCZit7q0Yn8m", "vip_m7.pth", 28)}),
    "mlpv_vip_l7.in1k": _cfg("ViP-Large/7", "official vip_l7", crop_pct=0.875, top1=83.2,
                             **{**_EVAL, **_drive("14F5IXGXmB_3jrwK33Efae-WEb5D_G85c", "vip_l7.pth", 31)}),
}))

_SMALL = partial(dict, mlp_ratios=(3, 3, 3, 3), depths=(4, 3, 8, 3))


@register_model
def mlpv_vip_s14(pretrained: bool = False, **kwargs) -> VisionPermutator:
    """ViP-Small/14 (paper Table 1): patch 14, 18 blocks of 384 channels at 16×16, 16 segments."""
    args = _SMALL(patch_size=14, embed_dims=(384,) * 4, transitions=(False,) * 4, segment_dims=(16,) * 4)
    return _create_vip("mlpv_vip_s14", pretrained, args, **kwargs)


@register_model
def mlpv_vip_s7(pretrained: bool = False, **kwargs) -> VisionPermutator:
    """ViP-Small/7: patch 7, 4 blocks of 192 at 32×32, then 14 of 384 at 16×16."""
    args = _SMALL(patch_size=7, embed_dims=(192, 384, 384, 384), transitions=(True, False, False, False),
                  segment_dims=(32, 16, 16, 16))
    return _create_vip("mlpv_vip_s7", pretrained, args, **kwargs)


@register_model
def mlpv_vip_m7(pretrained: bool = False, **kwargs) -> VisionPermutator:
    """ViP-Medium/7: patch 7, 7 blocks of 256 at 32×32, then 17 of 512 at 16×16."""
    args = dict(patch_size=7, depths=(4, 3, 14, 3), embed_dims=(256, 256, 512, 512), mlp_ratios=(3, 3, 3, 3),
                transitions=(False, True, False, False), segment_dims=(32, 32, 16, 16))
    return _create_vip("mlpv_vip_m7", pretrained, args, **kwargs)


@register_model
def mlpv_vip_l7(pretrained: bool = False, **kwargs) -> VisionPermutator:
    """ViP-Large/7: patch 7, 8 blocks of 256 at 32×32, then 28 of 512 at 16×16 (the code's split)."""
    args = dict(patch_size=7, depths=(8, 8, 16, 4), embed_dims=(256, 512, 512, 512), mlp_ratios=(3, 3, 3, 3),
                transitions=(True, False, False, False), segment_dims=(32, 16, 16, 16))
    return _create_vip("mlpv_vip_l7", pretrained, args, **kwargs)
