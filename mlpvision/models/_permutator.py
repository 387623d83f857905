"""The network skeleton that Vision Permutator, DynaMixer and CycleMLP share (their code descends from ViP's).

Channels-last blocks ``x = x + DropPath(Mixer(LN(x)))``; ``x = x + DropPath(Mlp(LN(x)))`` (LayerNorm eps 1e-5,
GELU MLP of ``mlp_ratio``·C; the code's ``skip_lam`` is 1 in every released variant, so it is left out); a
convolution stem; between stages a strided convolution when ``transitions[i]`` is set, or a 1×1 convolution when
only the width changes; final LayerNorm, token mean, linear head. Drop path grows linearly over all blocks.

The authors' checkpoints keep everything in one list, ``network.{j}``: stage blocks and transitions interleaved
(``network.{j}.{k}.attn.…`` for block k of the stage at j, ``network.{j}.proj.…`` for a transition). Their layout
is recovered from the model's own stages, so one converter serves the three families.
"""

import re
from collections.abc import Callable, Sequence
from typing import Any

from timm.layers import Mlp, trunc_normal_
from timm.models._manipulate import named_apply
from torch import nn

from ..layers import MetaFormerBlock
from ..layers.conv_embed import ConvEmbed
from ..layers.cycle_fc import CycleFC
from ..layers.token_mixer import Grid
from ._builder import build_model
from ._hierarchical import HierarchicalBackbone
from ._weights import StateDict

# builds the token mixer of a block: (stage index, channels, that stage's grid) → module
MixerFn = Callable[[int, int, Grid], nn.Module]


def init_permutator(module: nn.Module, name: str = "") -> None:
    """The authors' init: truncated-normal (0.02) linear and Cycle FC weights, zero biases, unit LayerNorms.

    Convolutions keep PyTorch's default, as in the code.
    """
    if isinstance(module, nn.Linear | CycleFC):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def init_permutator_model(model: nn.Module) -> None:
    named_apply(init_permutator, model)


def permutator_stage_strides(transitions: Sequence[bool]) -> list[int]:
    """Each stage's downsampling: 2 after a stage whose ``transitions`` entry is set, else 1."""
    return [1] + [2 if transition else 1 for transition in transitions[:-1]]


def convert_network_layout(state: StateDict, model: HierarchicalBackbone) -> StateDict:
    """The authors' ``patch_embed`` / ``network.{j}`` keys → ours; CycleFC ``offset`` buffers dropped."""
    network_to_ours: dict[int, str] = {}
    index = 0
    for stage_index, stage in enumerate(model.stages):
        if not isinstance(stage.downsample, nn.Identity):
            network_to_ours[index] = f"stages.{stage_index}.downsample"
            index += 1
        network_to_ours[index] = f"stages.{stage_index}.blocks"
        index += 1
    out = {}
    for key, value in state.items():
        if key.endswith(".offset"):
            continue
        key = re.sub(r"^patch_embed\.", "stem.", key)
        match = re.match(r"^network\.(\d+)\.(.*)$", key)
        if match:
            key = f"{network_to_ours[int(match.group(1))]}.{match.group(2)}"
            key = key.replace(".attn.", ".token_mixer.")
        out[key] = value
    return out


def checkpoint_filter_fn(state: StateDict, model: nn.Module) -> StateDict:
    """The authors' layout (sentinel: ``network.`` keys) → ours; ours passes unchanged."""
    if any(key.startswith("network.") for key in state):
        return convert_network_layout(state, model)
    return state


def create_permutator(
        variant: str,
        pretrained: bool,
        mixer_fn: MixerFn,
        depths: Sequence[int],
        embed_dims: Sequence[int],
        transitions: Sequence[bool],
        mlp_ratios: Sequence[float],
        stem: dict[str, int],
        downsample: dict[str, int],
        **kwargs: Any,
) -> HierarchicalBackbone:
    """Build a ViP-style network through timm.

    Args:
        variant: registered name.
        pretrained: load the ``pretrained_cfg``'s weights.
        mixer_fn: the family's token mixer (see ``MixerFn``).
        depths: blocks per stage (the code's ``layers``).
        embed_dims: channels per stage.
        transitions: downsample by 2 after stage i.
        mlp_ratios: channel-MLP expansion per stage.
        stem: the stem convolution's ``kernel_size``, ``stride``, ``padding``.
        downsample: the transitions' ``kernel_size`` and ``padding`` (stride 2).
        kwargs: ``HierarchicalBackbone`` arguments (``img_size``, ``num_classes``, ``drop_path_rate`` …).
    """

    def stem_fn(in_chans: int, dim: int) -> ConvEmbed:
        return ConvEmbed(in_chans, dim, **stem, output_fmt="NHWC")

    def downsample_fn(in_dim: int, out_dim: int, stride: int) -> ConvEmbed | None:
        if stride == 2:
            return ConvEmbed(in_dim, out_dim, stride=2, **downsample, input_fmt="NHWC", output_fmt="NHWC")
        if in_dim != out_dim:
            return ConvEmbed(in_dim, out_dim, kernel_size=1, stride=1, input_fmt="NHWC", output_fmt="NHWC")
        return None

    def block_fn(stage: int, dim: int, grid_size: Grid, drop_path: float) -> MetaFormerBlock:
        mlp = Mlp(dim, int(dim * mlp_ratios[stage]))
        return MetaFormerBlock(dim, mixer_fn(stage, dim, grid_size), mlp, norm_layer=nn.LayerNorm, drop_path=drop_path)

    return build_model(
        HierarchicalBackbone, variant, pretrained, checkpoint_filter_fn, default_out_indices=(0, 1, 2, 3),
        stem_fn=stem_fn, stem_stride=stem["stride"], depths=depths, embed_dims=embed_dims,
        stage_strides=permutator_stage_strides(transitions), downsample_fn=downsample_fn, block_fn=block_fn,
        layout="NHWC", norm_layer=nn.LayerNorm, weight_init=init_permutator_model,
        **kwargs,
    )
