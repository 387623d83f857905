"""ResMLP: Feedforward networks for image classification with data-efficient training (Touvron et al.),
https://arxiv.org/abs/2105.03404.

Official code: facebookresearch/deit @ 7e160fe43f0252d17191b71cbb5826254114ea5b (``resmlp_models.py``). Each block:
``Z = X + LS₁ ⊙ A·Aff₁(X)`` with one linear map A over the tokens, then ``Y = Z + LS₂ ⊙ MLP(Aff₂(Z))`` with a
4·C channel MLP; ``Aff`` is a per-channel affine map instead of LayerNorm. Where paper and code differ we follow the
code: layer scale only on the branches (the paper's Eq. 2–3 also add a β), LayerScale initialised by depth as the
official builders (S12 0.1, S24 1e-5, S36 and B24/8 1e-6; timm uses 1e-4 for S12), one constant drop-path rate over
depth, truncated-normal (0.02) linear weights.

Checkpoints: ours; the official state dicts (``patch_embed.``, ``blocks.{i}.attn``, ``gamma_1`` …); timm's
``resmlp_*_224`` layout.
"""

import re
from collections.abc import Callable

import torch
import torch.nn.functional as F
from timm.layers import Mlp
from timm.models import generate_default_cfgs, register_model
from torch import nn

from ..layers import Affine, Grid, MetaFormerBlock, TokenLinear, TokenMixer
from ._backbone import MlpBackbone, MlpStage, drop_path_rates, grid_of, patch_stem
from ._builder import IMAGENET_MEAN_STD, build_model, model_cfg
from ._weights import StateDict, register_weights, rename_keys
from .mixer import convert_timm_layout


class ResMlpBlock(MetaFormerBlock):
    """ResMLP's block with its affine maps and layer scales folded into the linear layers.

    The parameters (and checkpoint keys) of ``MetaFormerBlock`` with a token linear, Affine norms and layer scales,
    and the same function (Eq. 2–3 as in the code), computed with fewer passes over the activations: per-channel
    maps commute with token mixing, so the token branch is ``LS₁ ⊙ (A(α₁ ⊙ x + β₁) + b) = A(x ⊙ LS₁α₁) +
    LS₁ ⊙ (A𝟙β₁ᵀ + b𝟙ᵀ)``, and the channel branch takes α₂, β₂ into its first linear layer and LS₂ into its second.
    """

    def __init__(self, dim: int, grid_size: Grid, drop_path: float, init_values: float) -> None:
        super().__init__(dim, TokenLinear(dim, grid_size), Mlp(dim, 4 * dim), norm_layer=Affine,
                         layer_scale_init=init_values, drop_path=drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        tokens = x.reshape(batch, -1, x.shape[-1])
        # the submodules through self, not local names: TorchScript calls modules only as attributes
        weight, token_bias = self.token_mixer.weight, self.token_mixer.bias
        bias = torch.addcmul(token_bias[:, None], weight.sum(dim=1)[:, None], self.norm1.beta) * self.ls1
        mixed = torch.baddbmm(bias.expand(batch, -1, -1), weight.expand(batch, -1, -1),
                              tokens * (self.ls1 * self.norm1.alpha))
        tokens = tokens + self.drop_path1(mixed)
        fc1, fc2 = self.mlp.fc1, self.mlp.fc2
        hidden = F.linear(tokens, fc1.weight * self.norm2.alpha, fc1.bias + fc1.weight @ self.norm2.beta)
        out = F.linear(self.mlp.drop1(self.mlp.act(hidden)), fc2.weight * self.ls2[:, None], fc2.bias * self.ls2)
        return (tokens + self.drop_path2(self.mlp.drop2(out))).reshape(x.shape)


def resmlp_block(
        dim: int,
        grid_size: Grid,
        drop_path: float,
        init_values: float = 1e-4,
        token_mixer: Callable[..., TokenMixer] | None = None,
) -> MetaFormerBlock:
    """A ResMLP block (Eq. 2–3 as in the code): token linear (or ``token_mixer``), 4·C MLP, Affine, LayerScale."""
    if token_mixer is None:
        return ResMlpBlock(dim, grid_size, drop_path, init_values)
    return MetaFormerBlock(
        dim, token_mixer(dim=dim, grid_size=grid_size), Mlp(dim, 4 * dim), norm_layer=Affine,
        layer_scale_init=init_values, drop_path=drop_path,
    )


def init_resmlp(model: nn.Module) -> None:
    """Official init: truncated-normal (0.02) linear weights (token linears and head included), zero biases."""
    for module in model.modules():
        if isinstance(module, nn.Linear | TokenLinear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


_OFFICIAL_RENAMES = (
    (re.compile(r"^patch_embed\."), "stem."),
    (re.compile(r"^blocks\.(\d+)\."), r"stages.0.blocks.\1."),
    (re.compile(r"\.attn\."), ".token_mixer."),
    (re.compile(r"\.gamma_(\d)$"), r".ls\1"),
)


def checkpoint_filter_fn(state: StateDict, model: nn.Module) -> StateDict:
    """Official ResMLP (sentinel ``patch_embed.proj.weight``) or timm layout → ours."""
    if "patch_embed.proj.weight" in state:
        return rename_keys(state, _OFFICIAL_RENAMES)
    if any(key.startswith("blocks.") for key in state):
        return convert_timm_layout(state)
    return state


class ResMlp(MlpBackbone):
    """ResMLP: patch stem, ``depth`` ResMLP blocks (Eq. 2–3 as in the code), Affine, token mean, linear classifier.

    ``token_mixer`` (a class taking ``dim`` and ``grid_size``) replaces the token linear: the CCS family's hook.

    Args:
        patch_size: side of the square patches.
        depth: number of blocks.
        embed_dim: channels C.
        init_values: LayerScale initialisation (by depth in the official builders).
        img_size: input size the token linears are built for.
        in_chans, num_classes, global_pool, drop_rate: as ``MlpBackbone``.
        drop_path_rate: stochastic depth, one constant rate over the blocks (as the code).
    """

    checkpoint_filter = staticmethod(checkpoint_filter_fn)

    def __init__(
            self,
            patch_size: int,
            depth: int,
            embed_dim: int,
            init_values: float = 1e-4,
            img_size: int | tuple[int, int] = 224,
            in_chans: int = 3,
            num_classes: int = 1000,
            global_pool: str = "avg",
            drop_rate: float = 0.0,
            drop_path_rate: float = 0.0,
            token_mixer: Callable[..., TokenMixer] | None = None,
    ) -> None:
        img_size = self.check_img_size(img_size, patch_size)
        grid = grid_of(img_size, patch_size)
        blocks = [resmlp_block(embed_dim, grid, rate, init_values, token_mixer)
                  for rate in drop_path_rates(drop_path_rate, depth, "constant")]
        super().__init__(
            stem=patch_stem(img_size, patch_size, in_chans, embed_dim), stem_stride=patch_size,
            stages=[MlpStage(embed_dim, blocks)], norm=Affine(embed_dim), num_features=embed_dim,
            img_size=img_size, in_chans=in_chans, num_classes=num_classes, global_pool=global_pool,
            drop_rate=drop_rate,
        )
        self.patch_size, self.grid_size, self.embed_dim = patch_size, grid, embed_dim
        init_resmlp(self)


def _create_resmlp(variant: str, pretrained: bool, variant_args: dict, **kwargs) -> ResMlp:
    """Build ``variant`` from its hyper-parameters; keyword arguments override them."""
    return build_model(ResMlp, variant, pretrained, **{**variant_args, **kwargs})


# The released files are bare state dicts (deit resmlp_models.py:125-130); a deit main.py training checkpoint is
# evaluated from checkpoint['model'] (main.py:401-402, --eval --resume). The authors evaluate at crop 0.9
# (README_resmlp.md:60-73); timm's crop 0.875 bicubic measures every released file at its README figure or above
# (results-imagenet.csv, top1_timm below), so the cfgs keep timm's settings.
_EVAL = dict(
    weights_key="model", weights_key_source="deit main.py:401-402 (--eval --resume reads checkpoint['model'])",
    preprocessing_source="timm results-imagenet.csv at crop 0.875 bicubic reproduces the README; authors: "
                         "deit README_resmlp.md:60-73 (crop 0.9, bicubic)",
    page="https://github.com/facebookresearch/deit/blob/main/README_resmlp.md",
)


def _cfg(paper_name: str, count_source: str, patch_size: int = 16, **kwargs) -> dict:
    return model_cfg(
        paper_name=paper_name, arxiv="2105.03404", code_url="https://github.com/facebookresearch/deit",
        license="apache-2.0", count_source=count_source, mean_std=IMAGENET_MEAN_STD, feature_stride=patch_size,
        **{**_EVAL, **kwargs},
    )


def _weights(timm_tag: str, official_file: str) -> dict:
    """The official release file, and timm's hub copy of it (timm's key layout; preferred when the hub is reachable)."""
    return dict(hf_hub_id=f"timm/{timm_tag}", url=f"https://dl.fbaipublicfiles.com/deit/{official_file}")


_S12 = ("ResMLP-S12", "official resmlp_12 (= timm resmlp_12_224)")
_S24 = ("ResMLP-S24", "official resmlp_24")
_S36 = ("ResMLP-S36", "official resmlp_36")
_B24 = ("ResMLP-B24/8", "official resmlpB_24 (= timm resmlp_big_24_224)", 8)

_PAPER = "ResMLP paper (arXiv 2105.03404), no distillation"
_DINO = "DINO features: README_resmlp.md:{} gives k-NN {}, no classifier top-1"

default_cfgs = generate_default_cfgs(register_weights({
    "mlpv_resmlp_12.fb_in1k": _cfg(*_S12, **_weights("resmlp_12_224.fb_in1k", "resmlp_12_no_dist.pth"),
                                   top1=76.6, top1_source=_PAPER, top1_timm=76.660),
    "mlpv_resmlp_12.fb_distilled_in1k": _cfg(
        *_S12, **_weights("resmlp_12_224.fb_distilled_in1k", "resmlp_12_dist.pth"),
        top1=77.8, top1_source="README_resmlp.md:37", top1_timm=77.948),
    "mlpv_resmlp_12.fb_dino": _cfg(*_S12, **_weights("resmlp_12_224.fb_dino", "resmlp_12_dino.pth"),
                                   top1_source=_DINO.format(52, 62.6)),
    "mlpv_resmlp_24.fb_in1k": _cfg(*_S24, **_weights("resmlp_24_224.fb_in1k", "resmlp_24_no_dist.pth"),
                                   top1=79.4, top1_source=_PAPER, top1_timm=79.380),
    "mlpv_resmlp_24.fb_distilled_in1k": _cfg(
        *_S24, **_weights("resmlp_24_224.fb_distilled_in1k", "resmlp_24_dist.pth"),
        top1=80.8, top1_source="README_resmlp.md:38", top1_timm=80.766),
    "mlpv_resmlp_24.fb_dino": _cfg(*_S24, **_weights("resmlp_24_224.fb_dino", "resmlp_24_dino.pth"),
                                   top1_source=_DINO.format(53, 69.4)),
    "mlpv_resmlp_36.fb_in1k": _cfg(*_S36, **_weights("resmlp_36_224.fb_in1k", "resmlp_36_no_dist.pth"),
                                   top1=79.7, top1_source=_PAPER, top1_timm=79.772),
    "mlpv_resmlp_36.fb_distilled_in1k": _cfg(
        *_S36, **_weights("resmlp_36_224.fb_distilled_in1k", "resmlp_36_dist.pth"),
        top1=81.1, top1_source="README_resmlp.md:39", top1_timm=81.150),
    "mlpv_resmlp_b24.fb_in1k": _cfg(*_B24, **_weights("resmlp_big_24_224.fb_in1k", "resmlpB_24_no_dist.pth"),
                                    top1=81.0, top1_source=_PAPER, top1_timm=81.034),
    "mlpv_resmlp_b24.fb_distilled_in1k": _cfg(
        *_B24, **_weights("resmlp_big_24_224.fb_distilled_in1k", "resmlpB_24_dist.pth"),
        top1=83.6, top1_source="README_resmlp.md:40", top1_timm=83.594),
    "mlpv_resmlp_b24.fb_in22k_ft_in1k": _cfg(
        *_B24, **_weights("resmlp_big_24_224.fb_in22k_ft_in1k", "resmlpB_24_22k.pth"),
        top1=84.4, top1_source="README_resmlp.md:46", top1_timm=84.414),
}))


@register_model
def mlpv_resmlp_12(pretrained: bool = False, **kwargs) -> ResMlp:
    """ResMLP-S12 (paper Table D.3): 12 blocks, C 384, patch 16, LayerScale 0.1."""
    args = dict(patch_size=16, depth=12, embed_dim=384, init_values=0.1)
    return _create_resmlp("mlpv_resmlp_12", pretrained, args, **kwargs)


@register_model
def mlpv_resmlp_24(pretrained: bool = False, **kwargs) -> ResMlp:
    """ResMLP-S24 (paper Table D.3): 24 blocks, C 384, patch 16, LayerScale 1e-5."""
    args = dict(patch_size=16, depth=24, embed_dim=384, init_values=1e-5)
    return _create_resmlp("mlpv_resmlp_24", pretrained, args, **kwargs)


@register_model
def mlpv_resmlp_36(pretrained: bool = False, **kwargs) -> ResMlp:
    """ResMLP-S36 (paper Table D.3): 36 blocks, C 384, patch 16, LayerScale 1e-6."""
    args = dict(patch_size=16, depth=36, embed_dim=384, init_values=1e-6)
    return _create_resmlp("mlpv_resmlp_36", pretrained, args, **kwargs)


@register_model
def mlpv_resmlp_b24(pretrained: bool = False, **kwargs) -> ResMlp:
    """ResMLP-B24/8 (paper Table 3, official ``resmlpB_24``): 24 blocks, C 768, patch 8, LayerScale 1e-6."""
    args = dict(patch_size=8, depth=24, embed_dim=768, init_values=1e-6)
    return _create_resmlp("mlpv_resmlp_b24", pretrained, args, **kwargs)
