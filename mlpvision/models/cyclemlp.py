"""CycleMLP: A MLP-like Architecture for Dense Prediction (Chen et al., ICLR 2022), https://arxiv.org/abs/2107.10224.

Official code: ShoufaChen/CycleMLP @ 4e062a03e875d8dc4fbdd5dec96a918494705d38 (``cycle_mlp.py``); this file's key
mapping follows that commit. The network is ViP's (``_permutator.py``) with an overlapping 7×7 stride-4 stem, 3×3
stride-2 transitions and the Cycle token mixer (``layers/cycle_fc.py``): two Cycle FCs and a channel linear fused
by split attention, as in the code. No weight depends on the input size, so any image whose sides are multiples of
32 works. The Cycle FC runs as a shift-and-linear by default (exact, exports to ONNX); ``impl="deform"``
(``cycle_fc=``, its earlier name, is still read) selects the authors' ``deform_conv2d`` form (the two agree to 1e-5,
``tests/layers/test_cycle_fc.py``).

Drop path grows linearly over all blocks, default 0. LayerNorm eps 1e-5; truncated normal (0.02) linears and Cycle
FCs with zero biases; convolutions PyTorch's default. MACs (``mlpvision models``) count each Cycle FC as the
1×1 convolution it is (C_in·C_out per position); fvcore skips ``deform_conv2d``, so the reference
MACs (``tests/models/variants.csv``) are the paper's.

Checkpoints: ours; the authors' (``patch_embed``, ``network.{j}.{k}.attn.sfc_h`` …, bare or under ``model`` of a
main.py training checkpoint, which their evaluation reads; the Cycle FCs' fixed ``offset`` buffers are dropped).
Released weights: the authors' GitHub release v0.1, evaluated as their ``main.py --eval`` does (crop 0.875
bicubic for every variant, see the cfgs).
"""

import warnings
from functools import partial

from timm.models import generate_default_cfgs, register_model

from ..layers.cycle_fc import CycleImpl, CycleMixer
from ._builder import IMAGENET_MEAN_STD, build_model, model_cfg
from ._permutator import Permutator
from ._weights import register_weights

_RELEASE = "https://github.com/ShoufaChen/CycleMLP/releases/download/v0.1"


class CycleMlp(Permutator):
    """CycleMLP: ViP's network with a 7×7/4 stem, 3×3/2 transitions after every stage and the Cycle token mixer.

    Args:
        impl: the Cycle FCs' implementation, ``"shift"`` or ``"deform"``.
        **kwargs: ``Permutator``'s ``depths``, ``embed_dims``, ``mlp_ratios``, ``img_size`` …
    """

    def __init__(self, impl: CycleImpl = "shift", **kwargs) -> None:
        super().__init__(
            stage_mixers=[partial(CycleMixer, impl=impl)] * len(kwargs["depths"]), transitions=(True, True, True, True),
            stem=dict(kernel_size=7, stride=4, padding=2), downsample=dict(kernel_size=3, padding=1),
            size_agnostic=True, **kwargs,
        )


def _create_cyclemlp(variant: str, pretrained: bool, variant_args: dict, **kwargs) -> CycleMlp:
    """Build ``variant`` from its hyper-parameters; keyword arguments override them."""
    if "cycle_fc" in kwargs:  # what checkpoints saved with the earlier name record among their model kwargs
        warnings.warn("cycle_fc= is now impl=", FutureWarning, stacklevel=3)
        kwargs["impl"] = kwargs.pop("cycle_fc")
    return build_model(CycleMlp, variant, pretrained, default_out_indices=(0, 1, 2, 3), **{**variant_args, **kwargs})


def _cfg(paper_name: str, file: str, top1: float, readme_line: int) -> dict:
    """The authors' release file, evaluated as their ``main.py --eval --resume`` does (README.md:82): the weights
    of checkpoint['model'] (main.py:438-439) at Resize(int(256/224·224)) bicubic + CenterCrop 224, crop 0.875
    (datasets.py:105-110) for every variant; the 0.9 of the B1-B3 cfgs in cycle_mlp.py:44-46 is never read there."""
    return model_cfg(
        paper_name=paper_name, arxiv="2107.10224", code_url="https://github.com/ShoufaChen/CycleMLP", license="mit",
        count_source=f"official {paper_name.replace('-', '_')}", mean_std=IMAGENET_MEAN_STD,
        url=f"{_RELEASE}/{file}", fixed_input_size=False, feature_stride=32, crop_pct=0.875, interpolation="bicubic",
        weights_key="model", weights_key_source="CycleMLP main.py:438-439 (--eval --resume reads checkpoint['model'])",
        preprocessing_source="CycleMLP datasets.py:105-110 (Resize(int(256/224*224)) bicubic, CenterCrop 224)",
        top1=top1, top1_source=f"CycleMLP README.md:{readme_line}", page=f"{_RELEASE}/{file}",
    )


default_cfgs = generate_default_cfgs(register_weights({
    "mlpv_cyclemlp_b1.in1k": _cfg("CycleMLP-B1", "CycleMLP_B1.pth", 78.9, 29),
    "mlpv_cyclemlp_b2.in1k": _cfg("CycleMLP-B2", "CycleMLP_B2.pth", 81.6, 30),
    "mlpv_cyclemlp_b3.in1k": _cfg("CycleMLP-B3", "CycleMLP_B3.pth", 82.4, 31),
    "mlpv_cyclemlp_b4.in1k": _cfg("CycleMLP-B4", "CycleMLP_B4.pth", 83.0, 32),
    "mlpv_cyclemlp_b5.in1k": _cfg("CycleMLP-B5", "CycleMLP_B5.pth", 83.2, 33),
}))


@register_model
def mlpv_cyclemlp_b1(pretrained: bool = False, **kwargs) -> CycleMlp:
    """CycleMLP-B1 (paper Table 1): blocks 2-2-4-2, channels 64-128-320-512, MLP ratio 4."""
    args = dict(depths=(2, 2, 4, 2), embed_dims=(64, 128, 320, 512), mlp_ratios=(4, 4, 4, 4))
    return _create_cyclemlp("mlpv_cyclemlp_b1", pretrained, args, **kwargs)


@register_model
def mlpv_cyclemlp_b2(pretrained: bool = False, **kwargs) -> CycleMlp:
    """CycleMLP-B2: blocks 2-3-10-3, channels 64-128-320-512, MLP ratio 4."""
    args = dict(depths=(2, 3, 10, 3), embed_dims=(64, 128, 320, 512), mlp_ratios=(4, 4, 4, 4))
    return _create_cyclemlp("mlpv_cyclemlp_b2", pretrained, args, **kwargs)


@register_model
def mlpv_cyclemlp_b3(pretrained: bool = False, **kwargs) -> CycleMlp:
    """CycleMLP-B3: blocks 3-4-18-3, channels 64-128-320-512, MLP ratios 8-8-4-4."""
    args = dict(depths=(3, 4, 18, 3), embed_dims=(64, 128, 320, 512), mlp_ratios=(8, 8, 4, 4))
    return _create_cyclemlp("mlpv_cyclemlp_b3", pretrained, args, **kwargs)


@register_model
def mlpv_cyclemlp_b4(pretrained: bool = False, **kwargs) -> CycleMlp:
    """CycleMLP-B4: blocks 3-8-27-3, channels 64-128-320-512, MLP ratios 8-8-4-4."""
    args = dict(depths=(3, 8, 27, 3), embed_dims=(64, 128, 320, 512), mlp_ratios=(8, 8, 4, 4))
    return _create_cyclemlp("mlpv_cyclemlp_b4", pretrained, args, **kwargs)


@register_model
def mlpv_cyclemlp_b5(pretrained: bool = False, **kwargs) -> CycleMlp:
    """CycleMLP-B5: blocks 3-4-24-3, channels 96-192-384-768, MLP ratio 4."""
    args = dict(depths=(3, 4, 24, 3), embed_dims=(96, 192, 384, 768), mlp_ratios=(4, 4, 4, 4))
    return _create_cyclemlp("mlpv_cyclemlp_b5", pretrained, args, **kwargs)
