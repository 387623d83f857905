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
from ._backbone import MlpBackbone, MlpStage, drop_path_rates, grid_of, patch_stem
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


class GMlp(MlpBackbone):
    """gMLP: patch stem, ``depth`` gMLP blocks (Fig. 1), LayerNorm, token mean, linear classifier.

    Args:
        patch_size: side of the square patches.
        depth: number of blocks.
        embed_dim: d_model.
        mlp_ratio: d_ffn / d_model.
        img_size: input size the spatial gating units are built for.
        in_chans, num_classes, global_pool, drop_rate: as ``MlpBackbone``.
        drop_path_rate: stochastic depth of the last block, linear from 0.
    """

    checkpoint_filter = staticmethod(checkpoint_filter_fn)

    def __init__(
            self,
            patch_size: int,
            depth: int,
            embed_dim: int,
            mlp_ratio: float = 6.0,
            img_size: int | tuple[int, int] = 224,
            in_chans: int = 3,
            num_classes: int = 1000,
            global_pool: str = "avg",
            drop_rate: float = 0.0,
            drop_path_rate: float = 0.0,
    ) -> None:
        img_size = self.check_img_size(img_size, patch_size)
        grid = grid_of(img_size, patch_size)
        blocks = [gmlp_block(embed_dim, grid, rate, mlp_ratio) for rate in drop_path_rates(drop_path_rate, depth)]
        super().__init__(
            stem=patch_stem(img_size, patch_size, in_chans, embed_dim), stem_stride=patch_size,
            stages=[MlpStage(embed_dim, blocks)], norm=MIXER_LAYER_NORM(embed_dim), num_features=embed_dim,
            img_size=img_size, in_chans=in_chans, num_classes=num_classes, global_pool=global_pool,
            drop_rate=drop_rate,
        )
        self.patch_size, self.grid_size, self.embed_dim = patch_size, grid, embed_dim
        init_mixer(self)


def _create_gmlp(variant: str, pretrained: bool, variant_args: dict, **kwargs) -> GMlp:
    """Build ``variant`` from its hyper-parameters; keyword arguments override them."""
    return build_model(GMlp, variant, pretrained, **{**variant_args, **kwargs})


def _cfg(paper_name: str, count_source: str, **kwargs) -> dict:
    return model_cfg(
        paper_name=paper_name, arxiv="2105.08050",
        code_url="https://github.com/huggingface/pytorch-image-models/blob/main/timm/models/mlp_mixer.py",
        license="apache-2.0", count_source=count_source, mean_std=INCEPTION_MEAN_STD, feature_stride=16, **kwargs,
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
def mlpv_gmlp_ti16(pretrained: bool = False, **kwargs) -> GMlp:
    """gMLP-Ti (paper Table 1): 30 blocks, d_model 128, d_ffn 768, patch 16."""
    return _create_gmlp("mlpv_gmlp_ti16", pretrained, dict(patch_size=16, depth=30, embed_dim=128), **kwargs)


@register_model
def mlpv_gmlp_s16(pretrained: bool = False, **kwargs) -> GMlp:
    """gMLP-S (paper Table 1): 30 blocks, d_model 256, d_ffn 1536, patch 16."""
    return _create_gmlp("mlpv_gmlp_s16", pretrained, dict(patch_size=16, depth=30, embed_dim=256), **kwargs)


@register_model
def mlpv_gmlp_b16(pretrained: bool = False, **kwargs) -> GMlp:
    """gMLP-B (paper Table 1): 30 blocks, d_model 512, d_ffn 3072, patch 16."""
    return _create_gmlp("mlpv_gmlp_b16", pretrained, dict(patch_size=16, depth=30, embed_dim=512), **kwargs)
