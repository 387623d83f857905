"""Do You Even Need Attention? A Stack of Feed-Forward Layers Does Surprisingly Well on ImageNet (Melas-Kyriazi),
https://arxiv.org/abs/2105.02723.

Official code: lukemelas/do-you-even-need-attention @ 1f57ab06656155232b8e9ad07d02ec722dd537a6
(``vision_transformer_linear.py``; the repository has no licence file). A ViT with each attention layer replaced by
a feed-forward layer over the tokens. Its block is neither shared block, so it lives here: channel MLP first, then
a token MLP over the N+1 tokens (class token included, hidden 4·(N+1)) whose LayerNorm normalises over the token
axis; LayerNorm eps 1e-6; one drop-path module shared by both branches, linear over depth. A class token with its
own positional embedding, and a 14×14 learned positional table interpolated (bilinear) to the patch grid when the
grid differs, as FF-large (patch 32, a 7×7 grid) does on every forward pass in the official code. Classification
reads the class token. Init as the official code: truncated-normal (0.02) linears, class token and positional
tables.

Checkpoints: ours; the official state dicts (``pos_encoding.pos_embed``, ``blocks.{i}.mlp1`` …), including the
released ``linear-{tiny,base}-checkpoint.pth`` (nested under ``model``).
"""

import re
from functools import partial

import torch
import torch.fx
import torch.nn.functional as F
from timm.layers import DropPath, Mlp, register_notrace_function
from timm.models import generate_default_cfgs, register_model
from torch import nn

from ..layers import Grid, TokenMlp, resize_token_axis
from ._backbone import MlpBackbone, MlpStage, drop_path_rates, grid_of, patch_stem
from ._builder import IMAGENET_MEAN_STD, build_model, model_cfg
from ._weights import StateDict, register_weights, rename_keys

FF_LAYER_NORM = partial(nn.LayerNorm, eps=1e-6)
POS_TABLE_GRID = (14, 14)


class FeedForwardBlock(nn.Module):
    """``x = x + DP(MLP_c(LN_c(x)))``; ``x = x + DP(MLP_t(LN_t(xᵀ)))ᵀ``, LN_t over the N+1 tokens (official code).

    Args:
        dim: channels.
        grid_size: patch grid; the token MLP acts on ``1 + H·W`` tokens.
        drop_path: stochastic-depth rate of both branches.
        mlp_ratio: hidden width of both MLPs relative to their input.
        drop: dropout inside both MLPs.
        token_hidden: hidden width of the token MLP; default ``mlp_ratio·(1 + H·W)``.
    """

    num_prefix_tokens = 1
    layout = "NHWC"  # channels-last tokens [B, 1 + N, C]

    def __init__(
            self,
            dim: int,
            grid_size: Grid,
            drop_path: float,
            mlp_ratio: float = 4.0,
            drop: float = 0.0,
            token_hidden: int | None = None,
    ) -> None:
        super().__init__()
        self.grid_size = tuple(grid_size)
        tokens = self.num_prefix_tokens + grid_size[0] * grid_size[1]
        self.channel_norm = FF_LAYER_NORM(dim)
        self.channel_mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        self.token_norm = FF_LAYER_NORM(tokens)
        self.token_mlp = TokenMlp(
            dim, grid_size, token_hidden or int(tokens * mlp_ratio), num_prefix_tokens=self.num_prefix_tokens, drop=drop
        )
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.channel_mlp(self.channel_norm(x)))
        normed = self.token_norm(x.transpose(1, 2)).transpose(1, 2)
        return x + self.drop_path(self.token_mlp(normed))

    def token_count(self, state: StateDict) -> int | None:
        return self.token_mlp.token_count({k.removeprefix("token_mlp."): v for k, v in state.items()})

    def resample_state(self, state: StateDict, old_grid: Grid, new_grid: Grid) -> StateDict:
        state = dict(state)
        for key in ("token_norm.weight", "token_norm.bias"):
            state[key] = resize_token_axis(state[key], 0, old_grid, new_grid, False, self.num_prefix_tokens)
        mlp_state = {k.removeprefix("token_mlp."): v for k, v in state.items() if k.startswith("token_mlp.")}
        for key, value in self.token_mlp.resample_state(mlp_state, old_grid, new_grid).items():
            state[f"token_mlp.{key}"] = value
        return state


class FeedForwardOnly(MlpBackbone):
    """The FF-only network: a patch stem, a class token and positional tables, ``depth`` feed-forward blocks,
    LayerNorm, class-token pooling and a linear classifier.

    The token MLP's hidden width is part of the variant (4·(1 + N) at 224: 788 for patch 16, 200 for patch 32), so a
    model built at another ``img_size`` keeps it and 224 checkpoints load with resampled token weights.

    Args:
        patch_size: side of the square patches.
        depth: number of blocks.
        embed_dim: channels C.
        token_hidden: hidden width of every token MLP.
        img_size: input size the token MLPs are built for.
        in_chans, num_classes, drop_rate: as ``MlpBackbone``.
        global_pool: ``"token"`` (the class token, as the code), ``"avg"`` (mean of the patch tokens) or ``""``.
        proj_drop_rate: dropout inside the MLPs and after the positional embedding (the official ``drop``).
        drop_path_rate: stochastic depth of the last block, linear from 0.
    """

    num_prefix_tokens = 1
    global_pools = ("", "avg", "token")

    @staticmethod
    def checkpoint_filter(state: StateDict, model: nn.Module) -> StateDict:
        return checkpoint_filter_fn(state, model)

    def __init__(
            self,
            patch_size: int,
            depth: int,
            embed_dim: int,
            token_hidden: int,
            img_size: int | tuple[int, int] = 224,
            in_chans: int = 3,
            num_classes: int = 1000,
            global_pool: str = "token",
            drop_rate: float = 0.0,
            proj_drop_rate: float = 0.0,
            drop_path_rate: float = 0.0,
    ) -> None:
        img_size = self.check_img_size(img_size, patch_size)
        grid = grid_of(img_size, patch_size)
        blocks = [FeedForwardBlock(embed_dim, grid, rate, drop=proj_drop_rate, token_hidden=token_hidden)
                  for rate in drop_path_rates(drop_path_rate, depth)]
        super().__init__(
            stem=patch_stem(img_size, patch_size, in_chans, embed_dim), stem_stride=patch_size,
            stages=[MlpStage(embed_dim, blocks)], norm=FF_LAYER_NORM(embed_dim), num_features=embed_dim,
            img_size=img_size, in_chans=in_chans, num_classes=num_classes, global_pool=global_pool,
            drop_rate=drop_rate,
        )
        self.output_fmt = "NLC"  # the class token, then the patch tokens
        self.patch_size, self.grid_size, self.embed_dim = patch_size, grid, embed_dim
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.cls_pos_embed = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_dim, *POS_TABLE_GRID))
        self.pos_drop = nn.Dropout(proj_drop_rate)
        init_ffonly(self)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        x = self._checked_stem(x)  # [B, h, w, C]
        x = (x + positional_table(self.pos_embed, x).permute(0, 2, 3, 1)).flatten(1, 2)
        cls = (self.cls_token + self.cls_pos_embed).expand(x.shape[0], -1, -1)
        return self.pos_drop(torch.cat([cls, x], dim=1))

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0] if self.global_pool == "token" else x[:, self.num_prefix_tokens:].mean(dim=1)

    def _to_nchw(self, x: torch.Tensor, grid: Grid) -> torch.Tensor:
        spatial = x[:, self.num_prefix_tokens:]
        return spatial.reshape(x.shape[0], *grid, -1).permute(0, 3, 1, 2).contiguous()


@register_notrace_function  # timm's FX feature extraction
def positional_table(pos_embed: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """The ``[1, C, 14, 14]`` positional table at the grid of ``tokens`` (``[B, h, w, C]``), bilinear as the code.

    A leaf of traced graphs (``torch.fx.wrap`` below): whether to interpolate depends on the input's grid.
    """
    height, width = tokens.shape[1], tokens.shape[2]
    if height == pos_embed.shape[2] and width == pos_embed.shape[3]:  # the table's own 14x14 grid
        return pos_embed
    return F.interpolate(pos_embed, size=(height, width), mode="bilinear", align_corners=False)


torch.fx.wrap("positional_table")


def init_ffonly(model: nn.Module) -> None:
    """Official init: truncated-normal (0.02) linear weights, class token and positional tables; zero biases."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
    for table in (model.cls_token, model.cls_pos_embed, model.pos_embed):
        nn.init.trunc_normal_(table, std=0.02)


_OFFICIAL_RENAMES = (
    (re.compile(r"^patch_embed\."), "stem."),
    (re.compile(r"^pos_encoding\."), ""),
    (re.compile(r"^blocks\.(\d+)\."), r"stages.0.blocks.\1."),
    (re.compile(r"\.mlp1\."), ".channel_mlp."),
    (re.compile(r"\.norm1\."), ".channel_norm."),
    (re.compile(r"\.mlp2\."), ".token_mlp."),
    (re.compile(r"\.norm2\."), ".token_norm."),
)


def checkpoint_filter_fn(state: StateDict, model: nn.Module) -> StateDict:
    """Official layout (sentinel ``pos_encoding.pos_embed``) → ours."""
    if "pos_encoding.pos_embed" not in state:
        return state
    return rename_keys(state, _OFFICIAL_RENAMES)


def _create_ffonly(variant: str, pretrained: bool, variant_args: dict, **kwargs) -> FeedForwardOnly:
    """Build ``variant`` from its hyper-parameters; keyword arguments override them."""
    return build_model(FeedForwardOnly, variant, pretrained, **{**variant_args, **kwargs})


def _cfg(paper_name: str, count_source: str, **kwargs) -> dict:
    return model_cfg(
        paper_name=paper_name, arxiv="2105.02723", code_url="https://github.com/lukemelas/do-you-even-need-attention",
        license="none (the official repository has no licence file)", count_source=count_source,
        mean_std=IMAGENET_MEAN_STD, **kwargs,
    )


_RELEASES = "https://github.com/lukemelas/do-you-even-need-attention/releases/download/v0.0.1"

# The code runs inside deit (README.md:31): its main.py --eval --resume reads checkpoint['model'] (deit
# main.py:401-402) and evaluates at Resize(224/0.875) bicubic + CenterCrop 224 (deit datasets.py:100-105, crop
# ratio 0.875 by default, main.py:174), which the cfg's crop 0.875 bicubic is.
_DEIT = dict(
    weights_key="model", weights_key_source="deit main.py:401-402 (--eval --resume reads checkpoint['model'])",
    preprocessing_source="deit datasets.py:100-105 (Resize(224/0.875) bicubic, CenterCrop 224; main.py:174)",
    page="https://github.com/lukemelas/do-you-even-need-attention#pretrained-models",
)

default_cfgs = generate_default_cfgs(register_weights({
    "mlpv_ffonly_tiny.official_in1k": _cfg(
        "FF-only tiny", "official linear_tiny", url=f"{_RELEASES}/linear-tiny-checkpoint.pth", top1=61.4,
        top1_source="README.md:23", **_DEIT),
    "mlpv_ffonly_base.official_in1k": _cfg(
        "FF-only base", "official linear_base", url=f"{_RELEASES}/linear-base-checkpoint.pth", top1=74.9,
        top1_source="README.md:24", **_DEIT),
    "mlpv_ffonly_large.untrained": _cfg("FF-only large (/32)", "official linear_large",
                                        top1_source="README.md:25 reports 71.4 but no file was released", **_DEIT),
}))


@register_model
def mlpv_ffonly_tiny(pretrained: bool = False, **kwargs) -> FeedForwardOnly:
    """FF-only tiny (paper Table 1, official ``linear_tiny``): 12 blocks, C 192, patch 16, token hidden 788."""
    args = dict(patch_size=16, depth=12, embed_dim=192, token_hidden=788)
    return _create_ffonly("mlpv_ffonly_tiny", pretrained, args, **kwargs)


@register_model
def mlpv_ffonly_base(pretrained: bool = False, **kwargs) -> FeedForwardOnly:
    """FF-only base (paper Table 1, official ``linear_base``): 12 blocks, C 768, patch 16, token hidden 788."""
    args = dict(patch_size=16, depth=12, embed_dim=768, token_hidden=788)
    return _create_ffonly("mlpv_ffonly_base", pretrained, args, **kwargs)


@register_model
def mlpv_ffonly_large(pretrained: bool = False, **kwargs) -> FeedForwardOnly:
    """FF-only large (paper Table 1, official ``linear_large``): 24 blocks, C 1024, patch 32, token hidden 200."""
    args = dict(patch_size=32, depth=24, embed_dim=1024, token_hidden=200)
    return _create_ffonly("mlpv_ffonly_large", pretrained, args, **kwargs)
