"""The network skeleton that Vision Permutator, DynaMixer and CycleMLP share (their code descends from ViP's).

Channels-last blocks ``x = x + DropPath(Mixer(LN(x)))``; ``x = x + DropPath(Mlp(LN(x)))`` (LayerNorm eps 1e-5,
GELU MLP of ``mlp_ratio``·C; the code's ``skip_lam`` is 1 in every released variant, so it is left out); a
convolution stem; between stages a strided convolution when ``transitions[i]`` is set, or a 1×1 convolution when
only the width changes; final LayerNorm, token mean, linear head. Drop path grows linearly over all blocks.

The authors' checkpoints keep everything in one list, ``network.{j}``: stage blocks and transitions interleaved
(``network.{j}.{k}.attn.…`` for block k of the stage at j, ``network.{j}.proj.…`` for a transition). Their layout
is recovered from the model's own stages, so one converter serves the three families.
"""

import math
import re
from collections.abc import Callable, Sequence

from timm.layers import Mlp, trunc_normal_
from timm.models._manipulate import named_apply
from torch import nn

from ..layers import MetaFormerBlock, TokenMixer
from ..layers.conv_embed import ConvEmbed
from ..layers.cycle_fc import CycleFC
from ._backbone import MlpBackbone, MlpStage, drop_path_rates, grid_of
from ._weights import StateDict


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


def permutator_stage_strides(transitions: Sequence[bool]) -> list[int]:
    """Each stage's downsampling: 2 after a stage whose ``transitions`` entry is set, else 1."""
    return [1] + [2 if transition else 1 for transition in transitions[:-1]]


def convert_network_layout(state: StateDict, model: MlpBackbone) -> StateDict:
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


class Permutator(MlpBackbone):
    """The ViP-style network: convolution stem, stages of channels-last blocks with each stage's token mixer,
    transitions, LayerNorm, mean over the grid and a linear classifier (see the module docstring).

    Args:
        stage_mixers: per stage, the token mixer's class (with its hyper-parameters bound), given ``dim`` and
            ``grid_size``.
        depths: blocks per stage (the code's ``layers``).
        embed_dims: channels per stage.
        transitions: downsample by 2 after stage i.
        mlp_ratios: channel-MLP expansion per stage.
        stem: the stem convolution's ``kernel_size``, ``stride``, ``padding``.
        downsample: the transitions' ``kernel_size`` and ``padding`` (stride 2).
        img_size: input size grid-sized weights are built for.
        in_chans, num_classes, global_pool, drop_rate, size_agnostic: as ``MlpBackbone``.
        drop_path_rate: stochastic depth of the last block, linear from 0 over all blocks.
    """

    checkpoint_filter = staticmethod(checkpoint_filter_fn)

    def __init__(
            self,
            stage_mixers: Sequence[Callable[..., TokenMixer]],
            depths: Sequence[int],
            embed_dims: Sequence[int],
            transitions: Sequence[bool],
            mlp_ratios: Sequence[float],
            stem: dict[str, int],
            downsample: dict[str, int],
            img_size: int | tuple[int, int] = 224,
            in_chans: int = 3,
            num_classes: int = 1000,
            global_pool: str = "avg",
            drop_rate: float = 0.0,
            drop_path_rate: float = 0.0,
            size_agnostic: bool = False,
    ) -> None:
        if not len(depths) == len(embed_dims) == len(transitions) == len(mlp_ratios) == len(stage_mixers):
            raise ValueError(
                f"depths {list(depths)}, embed_dims {list(embed_dims)}, transitions {list(transitions)}, mlp_ratios "
                f"{list(mlp_ratios)} and the token mixers need one entry per stage"
            )
        strides = permutator_stage_strides(transitions)
        img_size = self.check_img_size(img_size, stem["stride"] * math.prod(strides))
        rates = iter(drop_path_rates(drop_path_rate, sum(depths)))
        stages, stride, in_dim = [], stem["stride"], embed_dims[0]
        for index, (depth, dim, stage_stride) in enumerate(zip(depths, embed_dims, strides, strict=True)):
            stride *= stage_stride
            grid = grid_of(img_size, stride)
            hidden = int(dim * mlp_ratios[index])
            blocks = [
                MetaFormerBlock(dim, stage_mixers[index](dim=dim, grid_size=grid), Mlp(dim, hidden),
                                norm_layer=nn.LayerNorm, drop_path=next(rates))
                for _ in range(depth)
            ]
            transition = _transition(in_dim, dim, stage_stride, downsample) if index > 0 else None
            stages.append(MlpStage(dim, blocks, transition, stage_stride))
            in_dim = dim
        super().__init__(
            stem=ConvEmbed(in_chans, embed_dims[0], **stem, output_fmt="NHWC"), stem_stride=stem["stride"],
            stages=stages, norm=nn.LayerNorm(embed_dims[-1]), num_features=embed_dims[-1], img_size=img_size,
            in_chans=in_chans, num_classes=num_classes, global_pool=global_pool, drop_rate=drop_rate,
            size_agnostic=size_agnostic,
        )
        named_apply(init_permutator, self)


def _transition(in_dim: int, out_dim: int, stride: int, downsample: dict[str, int]) -> ConvEmbed | None:
    """Between stages: a strided convolution, a 1×1 convolution when only the width changes, or nothing."""
    if stride == 2:
        return ConvEmbed(in_dim, out_dim, stride=2, **downsample, input_fmt="NHWC", output_fmt="NHWC")
    if in_dim != out_dim:
        return ConvEmbed(in_dim, out_dim, kernel_size=1, stride=1, input_fmt="NHWC", output_fmt="NHWC")
    return None
