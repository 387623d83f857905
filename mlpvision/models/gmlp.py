"""gMLP: Pay Attention to MLPs (Liu et al., NeurIPS 2021), https://arxiv.org/abs/2105.08050.

No official vision code; the reference PyTorch port is timm's ``mlp_mixer.py`` (``SpatialGatingUnit``,
``SpatialGatingBlock``). Each block is one pre-norm (LayerNorm eps 1e-6) residual branch: channel projection to
6·C, GELU, spatial gating unit (LayerNorm eps 1e-5 on the gated half, token linear initialised near 0 with bias 1,
as §2.1 demands), projection from 3·C back to C. Stochastic depth grows linearly to the given rate (the paper
quotes the survival probability of the last layer; timm uses one constant rate). Init as timm.

Checkpoints: ours; timm's ``gmlp_*16_224`` layout.
"""

from functools import partial

from timm.layers import GatedMlp
from timm.models import generate_default_cfgs, register_model
from torch import nn

from ..layers import GatedBlock, Grid, SpatialGatingUnit
from ._backbone import MlpBackbone
from ._builder import INCEPTION_MEAN_STD, build_model, model_cfg
from ._weights import StateDict, register_weights
from .mixer import MIXER_LAYER_NORM, convert_timm_layout, init_mixer


def gmlp_block(dim: int, grid_size: Grid, drop_path: float, mlp_ratio: float = 6.0) -> GatedBlock:
    """A gMLP block (Fig. 1): LN, C → ``mlp_ratio``·C, GELU, spatial gating, half width → C, residual."""
    gate = partial(SpatialGatingUnit, grid_size=grid_size)
    mlp = GatedMlp(dim, int(mlp_ratio * dim), act_layer=nn.GELU, gate_layer=gate)
    return GatedBlock(dim, mlp, norm_layer=MIXER_LAYER_NORM, drop_path=drop_path)


def checkpoint_filter_fn(state: StateDict, model: nn.Module) -> StateDict:
    """timm layout (sentinel: ``blocks.`` keys) → ours."""
    if any(key.startswith("blocks.") for key in state):
        return convert_timm_layout(state)
    return state


def _create_gmlp(variant: str, pretrained: bool, variant_args: dict, **kwargs) -> MlpBackbone:
    """Build ``variant`` from its hyper-parameters; keyword arguments override them."""
    kwargs = {**variant_args, **kwargs}
    kwargs.setdefault("block_fn", gmlp_block)
    kwargs.setdefault("norm_layer", MIXER_LAYER_NORM)
    kwargs.setdefault("weight_init", init_mixer)
    return build_model(MlpBackbone, variant, pretrained, checkpoint_filter_fn, **kwargs)


def _cfg(paper_name: str, count_source: str, **kwargs) -> dict:
    return model_cfg(
        paper_name=paper_name, arxiv="2105.08050",
        code_url="https://github.com/huggingface/pytorch-image-models/blob/main/timm/models/mlp_mixer.py",
        license="apache-2.0", count_source=count_source, mean_std=INCEPTION_MEAN_STD, **kwargs,
    )


# The only released weights are timm's own training (ra3), evaluated by timm's validate.py with its cfg
# (crop 0.875 bicubic, mean/std 0.5); a timm train.py checkpoint is read from 'state_dict' (validate.py:236,
# --use-ema off by default, validate.py:130).
_TIMM = dict(weights_key="state_dict", weights_key_source="timm validate.py:236 (load_checkpoint, use_ema off: "
                                                          "validate.py:130)",
             preprocessing_source="timm's gmlp_s16_224 cfg (crop 0.875 bicubic), which its results were measured at")

default_cfgs = generate_default_cfgs(register_weights({
    "mlpv_gmlp_ti16.untrained": _cfg("gMLP-Ti", "timm gmlp_ti16_224", **_TIMM),
    "mlpv_gmlp_s16.ra3_in1k": _cfg(
        "gMLP-S", "timm gmlp_s16_224", hf_hub_id="timm/gmlp_s16_224.ra3_in1k", top1=79.652, top1_timm=79.652,
        top1_source="timm results-imagenet.csv (timm trained these weights; paper: 79.6)",
        page="https://huggingface.co/timm/gmlp_s16_224.ra3_in1k", **_TIMM),
    "mlpv_gmlp_b16.untrained": _cfg("gMLP-B", "timm gmlp_b16_224", **_TIMM),
}))


@register_model
def mlpv_gmlp_ti16(pretrained: bool = False, **kwargs) -> MlpBackbone:
    """gMLP-Ti (paper Table 1): 30 blocks, d_model 128, d_ffn 768, patch 16."""
    return _create_gmlp("mlpv_gmlp_ti16", pretrained, dict(patch_size=16, depth=30, embed_dim=128), **kwargs)


@register_model
def mlpv_gmlp_s16(pretrained: bool = False, **kwargs) -> MlpBackbone:
    """gMLP-S (paper Table 1): 30 blocks, d_model 256, d_ffn 1536, patch 16."""
    return _create_gmlp("mlpv_gmlp_s16", pretrained, dict(patch_size=16, depth=30, embed_dim=256), **kwargs)


@register_model
def mlpv_gmlp_b16(pretrained: bool = False, **kwargs) -> MlpBackbone:
    """gMLP-B (paper Table 1): 30 blocks, d_model 512, d_ffn 3072, patch 16."""
    return _create_gmlp("mlpv_gmlp_b16", pretrained, dict(patch_size=16, depth=30, embed_dim=512), **kwargs)
