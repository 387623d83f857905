"""The multi-stage MLP backbone (ViP, DynaMixer, sMLPNet, RepMLPNet, CycleMLP) on the shared timm API.

Layout: ``stem`` (a strided convolution) → ``stages.{s}`` = ``downsample`` (a strided convolution or nothing)
then ``blocks.{i}`` → ``norm`` → mean over the grid → ``head_drop`` → ``head``. A family chooses its tensor layout
(``"NHWC"``: channels-last blocks, LayerNorm at the end; ``"NCHW"``: convolutional blocks, BatchNorm at the end),
and supplies its stem, transitions and blocks through the three builder callables below. Feature maps for
detection and segmentation are the stage outputs, always NCHW, with their reduction in ``feature_info``.
"""

import math
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

import torch
from timm.layers import to_2tuple
from timm.models._features import feature_take_indices
from torch import nn

from ..layers.token_mixer import Grid
from ._backbone import BackboneApi, drop_path_rates
from ._weights import CheckpointFilter


class StageBlockFn(Protocol):
    """Builds a block of stage ``stage``: channels, that stage's token grid, stochastic-depth rate."""

    def __call__(self, stage: int, dim: int, grid_size: Grid, drop_path: float) -> nn.Module: ...


class DownsampleFn(Protocol):
    """Builds the transition into a stage (``stride`` 1: a channel change only), or ``None`` for none."""

    def __call__(self, in_dim: int, out_dim: int, stride: int) -> nn.Module | None: ...


class HierarchicalStage(nn.Module):
    """An optional transition, then a run of blocks at one resolution and width."""

    def __init__(self, downsample: nn.Module | None, blocks: Sequence[nn.Module]) -> None:
        super().__init__()
        self.downsample = downsample if downsample is not None else nn.Identity()
        self.blocks = nn.Sequential(*blocks)


class HierarchicalBackbone(BackboneApi):
    """Stem, stages of blocks with transitions between them, final norm, mean pooling and a linear classifier.

    Args:
        stem_fn: builds the stem from (input channels, first stage's channels).
        stem_stride: the stem's downsampling factor.
        depths: blocks per stage.
        embed_dims: channels per stage.
        stage_strides: downsampling at the start of each stage (the first is 1).
        downsample_fn: builds each transition (see ``DownsampleFn``).
        block_fn: builds each block (see ``StageBlockFn``).
        layout: the blocks' tensor layout, ``"NHWC"`` or ``"NCHW"``.
        norm_layer: the final norm (over channels: LayerNorm for NHWC, BatchNorm2d for NCHW).
        img_size: input size grid-sized weights are built for (int or (H, W)).
        in_chans: input channels.
        num_classes: classifier outputs; 0 for none.
        global_pool: ``"avg"`` (mean over the grid) or ``""`` (no pooling in ``forward_head``).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic-depth rate of the last block, linear from 0 over all blocks of all stages.
        size_agnostic: no grid-sized weights: any input whose sides are multiples of the total stride works.
        weight_init: the family's initialisation, applied once the modules exist.
        checkpoint_filter: converts foreign checkpoint layouts to this model's keys (the family's).
    """

    def __init__(
            self,
            stem_fn: Callable[[int, int], nn.Module],
            stem_stride: int,
            depths: Sequence[int],
            embed_dims: Sequence[int],
            stage_strides: Sequence[int],
            downsample_fn: DownsampleFn,
            block_fn: StageBlockFn,
            layout: Literal["NHWC", "NCHW"],
            norm_layer: Callable[[int], nn.Module],
            img_size: int | tuple[int, int] = 224,
            in_chans: int = 3,
            num_classes: int = 1000,
            global_pool: str = "avg",
            drop_rate: float = 0.0,
            drop_path_rate: float = 0.0,
            size_agnostic: bool = False,
            weight_init: Callable[[nn.Module], None] | None = None,
            checkpoint_filter: CheckpointFilter | None = None,
    ) -> None:
        super().__init__()
        if not len(depths) == len(embed_dims) == len(stage_strides) or stage_strides[0] != 1:
            raise ValueError(
                f"depths {list(depths)}, embed_dims {list(embed_dims)} and stage_strides {list(stage_strides)} "
                f"need one entry per stage, and the first stage starts at the stem's stride (stage_strides[0] = 1)"
            )
        if global_pool not in ("", "avg"):
            raise ValueError(f"global_pool must be 'avg' or '', got {global_pool!r}")
        img_size = to_2tuple(img_size)
        self.input_stride = stem_stride * math.prod(stage_strides)
        if any(side % self.input_stride for side in img_size) or min(img_size) <= 0:
            raise ValueError(f"img_size {img_size} must be a positive multiple of the total stride {self.input_stride}")
        self.img_size: tuple[int, int] = tuple(img_size)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.layout = layout
        self.size_agnostic = size_agnostic
        self.num_features = self.head_hidden_size = embed_dims[-1]
        self.grad_checkpointing = False
        self.checkpoint_filter = checkpoint_filter

        self.stem = stem_fn(in_chans, embed_dims[0])
        rates = iter(drop_path_rates(drop_path_rate, sum(depths), "linear"))
        stride, in_dim = stem_stride, embed_dims[0]
        stages, self.feature_info = [], []
        for index, (depth, dim, stage_stride) in enumerate(zip(depths, embed_dims, stage_strides, strict=True)):
            stride *= stage_stride
            grid = (self.img_size[0] // stride, self.img_size[1] // stride)
            downsample = downsample_fn(in_dim, dim, stage_stride) if index > 0 else None
            blocks = [block_fn(index, dim, grid, next(rates)) for _ in range(depth)]
            stages.append(HierarchicalStage(downsample, blocks))
            self.feature_info.append(dict(module=f"stages.{index}", num_chs=dim, reduction=stride))
            in_dim = dim
        self.stages = nn.Sequential(*stages)
        self.norm = norm_layer(embed_dims[-1])
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dims[-1], num_classes) if num_classes > 0 else nn.Identity()
        if weight_init is not None:
            weight_init(self)

    def _run_stage(self, stage: HierarchicalStage, x: torch.Tensor) -> torch.Tensor:
        x = stage.downsample(x)
        for block in stage.blocks:
            x = self._run_block(block, x)
        return x

    def _to_nchw(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2).contiguous() if self.layout == "NHWC" else x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's map after the final norm, ``[B, C, h, w]``."""
        self._check_input(x)
        x = self.stem(x)
        for stage in self.stages:
            x = self._run_stage(stage, x)
        return self._to_nchw(self.norm(x))

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        """The final map ``[B, C, h, w]`` → its mean over the grid, ``[B, C]``."""
        return x.mean(dim=(2, 3))

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: int | list[int] | None = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = "NCHW",
            intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """Stage outputs (``indices``: last n if int, all if None) as NCHW maps, and the final features.

        ``norm`` applies the final norm to the last stage's map (the other stages have no norm of their own).
        """
        if output_fmt != "NCHW":
            raise ValueError(f"multi-stage models return NCHW feature maps, got output_fmt={output_fmt!r}")
        self._check_input(x)
        take_indices, max_index = feature_take_indices(len(self.stages), indices)
        last = len(self.stages) - 1
        x = self.stem(x)
        intermediates = []
        for index, stage in enumerate(self.stages):
            if stop_early and index > max_index:
                break
            x = self._run_stage(stage, x)
            if index in take_indices:
                intermediates.append(self._to_nchw(self.norm(x) if norm and index == last else x))
        if intermediates_only:
            return intermediates
        return self._to_nchw(self.norm(x)), intermediates

    def prune_intermediate_layers(
            self, indices: int | list[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the stages after the last wanted one (and the norm/head if asked)."""
        take_indices, max_index = feature_take_indices(len(self.stages), indices)
        self.stages = self.stages[: max_index + 1]
        self._prune_norm_and_head(prune_norm, prune_head)
        return take_indices
