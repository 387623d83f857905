"""The one backbone of every family: stem → stages → final norm → pooling → classifier, with timm's model API.

``stem`` (a patch embedding) → ``stages.{s}`` = ``downsample`` (a transition, or nothing) then ``blocks.{i}`` →
``norm`` → mean over the grid → ``head_drop`` → ``head``. An isotropic model (Mixer, ResMLP, gMLP, S²-MLP, CCS,
FF-only) is one stage without downsampling; its feature points are its blocks, as timm's ``MlpMixer``. A multi-stage
model's feature points are its stages. The blocks say their tensor layout (``"NHWC"`` channels-last or ``"NCHW"``);
``forward_features`` returns the final map in that layout (``output_fmt``), ``forward_intermediates`` NCHW maps (or
NLC tokens). Each family's class assembles its stem, stages and norm in plain code and hands them to ``__init__``.
"""

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.fx
from timm.layers import PatchEmbed, register_notrace_function, to_2tuple
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint_seq
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..layers.token_mixer import Grid
from ._weights import (
    CheckpointFilter,
    check_architecture,
    load_checked,
    read_checkpoint,
    resample_token_mixers,
    weights_key_of,
)


def drop_path_rates(rate: float, depth: int, schedule: str = "linear") -> list[float]:
    """Per-block stochastic-depth rates: ``linear`` from 0 to ``rate`` over the blocks, or ``constant``."""
    if schedule not in ("linear", "constant"):
        raise ValueError(f"drop_path_schedule must be 'linear' or 'constant', got {schedule!r}")
    if schedule == "constant":
        return [rate] * depth
    return [rate * i / max(depth - 1, 1) for i in range(depth)]


def stage_dims(dim: int, stages: int = 4) -> tuple[int, ...]:
    """A pyramid's widths: ``dim`` in the first stage, doubled at each next one."""
    return tuple(dim * 2 ** stage for stage in range(stages))


def grid_of(img_size: Grid, stride: int) -> Grid:
    """The token grid after downsampling ``img_size`` by ``stride``."""
    return img_size[0] // stride, img_size[1] // stride


@register_notrace_function  # timm's FX feature extraction
def check_image_batch(x: torch.Tensor, name: str, in_chans: int, img_size: Grid, stride: int, any_size: bool) -> None:
    """Raise a ``ValueError`` saying what to do when ``x`` is not an image batch the model takes.

    A leaf of traced graphs (``torch.fx.wrap`` below, timm's no-trace registration above): the check reads the
    input's shape, which a symbolic trace does not know, and runs as it is when the traced graph runs.
    """
    if x.ndim != 4 or x.shape[1] != in_chans:
        raise ValueError(f"{name} takes images shaped [batch, {in_chans}, height, width], got {list(x.shape)}")
    height, width = x.shape[-2:]
    if any_size:
        if height % stride or width % stride or min(height, width) == 0:
            raise ValueError(
                f"{name} takes images whose sides are positive multiples of {stride}, got {height}x{width}"
            )
    elif (height, width) != tuple(img_size):
        h, w = img_size
        raise ValueError(
            f"{name} was built for {h}x{w} images, got {height}x{width}: resize the input to {h}x{w}, or build "
            f"the model for this size with img_size=({height}, {width}), e.g. "
            f"timm.create_model('{name}', img_size=({height}, {width})) (pretrained token-mixing weights are "
            f"resampled when loaded)"
        )


torch.fx.wrap("check_image_batch")


def patch_stem(
        img_size: Grid, patch_size: int, in_chans: int, embed_dim: int, norm_layer: type[nn.Module] | None = None
) -> PatchEmbed:
    """Non-overlapping square patches embedded channels-last ``[B, h, w, C]``: the isotropic families' stem."""
    return PatchEmbed(img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim,
                      norm_layer=norm_layer, output_fmt="NHWC", strict_img_size=False)


class MlpStage(nn.Module):
    """An optional transition (``downsample``, by ``stride``), then a run of blocks at one resolution and width."""

    def __init__(
            self, dim: int, blocks: Sequence[nn.Module], downsample: nn.Module | None = None, stride: int = 1
    ) -> None:
        super().__init__()
        self.dim, self.stride = dim, stride
        self.downsample = downsample if downsample is not None else nn.Identity()
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class MlpBackbone(nn.Module):
    """timm's model API over a stem, stages of blocks, a final norm, mean pooling and a linear classifier.

    Args:
        stem: the patch embedding, image ``[B, C, H, W]`` → tokens in the blocks' layout.
        stem_stride: the stem's downsampling.
        stages: the stages (``MlpStage``); the first has no transition.
        norm: the final norm, in the blocks' layout.
        num_features: channels of the last stage.
        img_size: input size the grid-sized weights were built for.
        in_chans: input channels.
        num_classes: classifier outputs; 0 for none.
        global_pool: ``"avg"`` (mean over the grid) or ``""`` (no pooling in ``forward_head``).
        drop_rate: dropout before the classifier.
        size_agnostic: no grid-sized weights, so any input whose sides are multiples of the total stride works.
    """

    num_prefix_tokens = 0
    global_pools: tuple[str, ...] = ("", "avg")
    # TorchScript: forward needs neither property, and reads the class attribute as a constant
    __jit_unused_properties__ = ["architecture", "blocks", "feature_dim"]
    __constants__ = ["num_prefix_tokens"]
    # the family's converter of foreign checkpoint layouts to this model's keys (a ``staticmethod``)
    checkpoint_filter: CheckpointFilter | None = None

    def __init__(
            self,
            *,
            stem: nn.Module,
            stem_stride: int,
            stages: Sequence[MlpStage],
            norm: nn.Module,
            num_features: int,
            img_size: Grid,
            in_chans: int = 3,
            num_classes: int = 1000,
            global_pool: str = "avg",
            drop_rate: float = 0.0,
            size_agnostic: bool = False,
    ) -> None:
        super().__init__()
        if global_pool not in self.global_pools:
            raise ValueError(f"global_pool must be one of {self.global_pools}, got {global_pool!r}")
        layouts = {block.layout for stage in stages for block in stage.blocks}
        if len(layouts) != 1:
            raise ValueError(f"the blocks of one model share one tensor layout, got {sorted(layouts)}")
        self.layout = self.output_fmt = layouts.pop()
        self.img_size: Grid = tuple(img_size)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.size_agnostic = size_agnostic
        self.num_features = self.head_hidden_size = num_features
        self.input_stride = stem_stride * math.prod(stage.stride for stage in stages)
        self.grad_checkpointing = False

        self.stem = stem
        self.stages = nn.Sequential(*stages)
        self.norm = norm
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(num_features, num_classes) if num_classes > 0 else nn.Identity()

        # the feature points: every block of a one-stage (isotropic) model, every stage of a multi-stage one
        self.feature_info: list[dict[str, Any]] = []
        self._feature_points: list[tuple[int, int]] = []
        stride = stem_stride
        for index, stage in enumerate(self.stages):
            stride *= stage.stride
            if len(self.stages) == 1:
                for block in range(len(stage.blocks)):
                    self._feature_points.append((index, block))
                    self.feature_info.append(dict(module=f"stages.{index}.blocks.{block}", num_chs=stage.dim,
                                                  reduction=stride))
            else:
                self._feature_points.append((index, len(stage.blocks) - 1))
                self.feature_info.append(dict(module=f"stages.{index}", num_chs=stage.dim, reduction=stride))

    @staticmethod
    def check_img_size(img_size: int | tuple[int, int], stride: int) -> Grid:
        """``img_size`` as (H, W), refused unless both sides are positive multiples of the total ``stride``."""
        img_size = tuple(to_2tuple(img_size))
        if any(side % stride for side in img_size) or min(img_size) < stride:
            raise ValueError(f"img_size {img_size} must be a positive multiple of the total stride {stride}")
        return img_size

    @staticmethod
    def check_pyramid(img_size: int | tuple[int, int], drop_path_rate: float, depths: Sequence[int],
                      **per_stage: Sequence) -> tuple[Grid, Iterator[float]]:
        """For a stride-4 stem followed by stages that each halve the grid: ``img_size`` as (H, W), checked against
        the total stride, and the blocks' drop-path rates in order; ``depths`` and every ``per_stage`` sequence
        (``embed_dims``, ...) must have one entry per stage."""
        if any(len(values) != len(depths) for values in per_stage.values()):
            listed = [f"{name} {list(values)}" for name, values in {"depths": depths, **per_stage}.items()]
            raise ValueError(f"{', '.join(listed[:-1])} and {listed[-1]} need one entry per stage")
        img_size = MlpBackbone.check_img_size(img_size, 4 * 2 ** (len(depths) - 1))
        return img_size, iter(drop_path_rates(drop_path_rate, sum(depths)))

    @property
    def architecture(self) -> str:
        """The registered name this model was built under (its class name when built directly)."""
        return (getattr(self, "pretrained_cfg", None) or {}).get("architecture", type(self).__name__)

    @property
    def feature_dim(self) -> int:
        """The channel axis of ``forward_features``' output (timm's tests read it): 1 for NCHW maps, else last."""
        return 1 if self.output_fmt == "NCHW" else -1

    @property
    def blocks(self) -> list[nn.Module]:
        """Every block, in order, across stages."""
        return [block for stage in self.stages for block in stage.blocks]

    # ---- the pieces a family with extra tokens overrides -------------------------------------------------

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """Image ``[B, C, H, W]`` → tokens as the first block takes them."""
        return self._checked_stem(x)

    def _checked_stem(self, x: torch.Tensor) -> torch.Tensor:
        """The stem's output, after refusing an input the model cannot take (an ``_embed`` override starts here:
        TorchScript has no ``super()``)."""
        if not torch.jit.is_scripting():  # a scripted model leaves the shape errors to its layers
            check_image_batch(x, self.architecture, self.in_chans, self.img_size, self.input_stride,
                              self.size_agnostic)
        return self.stem(x)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        """``forward_features``' output → ``[B, C]``: the mean over the grid."""
        return x.mean(dim=(1, 2) if self.output_fmt == "NHWC" else (2, 3))

    def _to_nchw(self, x: torch.Tensor, grid: Grid) -> torch.Tensor:
        """A block output → a ``[B, C, h, w]`` feature map."""
        return x.permute(0, 3, 1, 2).contiguous() if self.layout == "NHWC" else x

    def _to_nlc(self, x: torch.Tensor) -> torch.Tensor:
        """A block output → tokens ``[B, N, C]``."""
        return x.flatten(1, -2) if self.layout == "NHWC" else x.flatten(2).transpose(1, 2)

    # ---- timm's model API --------------------------------------------------------------------------------

    def _run_block(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """One block, recomputed in the backward pass when gradient checkpointing is on."""
        if self.grad_checkpointing and self.training:
            return checkpoint(block, x, use_reentrant=False)
        return block(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The final norm's output, unpooled, in ``output_fmt``."""
        x = self._embed(x)
        for stage in self.stages:
            if self.grad_checkpointing and self.training and not torch.jit.is_scripting():
                x = checkpoint_seq(stage.blocks, stage.downsample(x), use_reentrant=False)
            else:
                x = stage(x)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool, dropout and classify ``forward_features``' output (``pre_logits``: stop before the classifier)."""
        if self.global_pool != "":  # "" pools nothing (TorchScript takes no str as a condition)
            x = self._pool(x)
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: int | list[int] | None = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = "NCHW",
            intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """Feature maps at ``indices`` (last n if int, all if None; see ``feature_info``), and the final features.

        ``output_fmt``: ``"NCHW"`` maps or ``"NLC"`` tokens. ``norm`` applies the final norm to the feature points
        of the last stage (the other stages have no norm of their own).
        """
        if output_fmt not in ("NCHW", "NLC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NLC', got {output_fmt!r}")
        take_indices, max_index = feature_take_indices(len(self._feature_points), indices)
        points = {place: point for point, place in enumerate(self._feature_points)}
        grid = grid_of(tuple(x.shape[-2:]), self.input_stride)
        last = len(self.stages) - 1
        intermediates = []
        x = self._embed(x)
        for stage_index, stage in enumerate(self.stages):
            if stop_early and stage_index > self._feature_points[max_index][0]:
                break
            x = stage.downsample(x)
            for block_index, block in enumerate(stage.blocks):
                x = self._run_block(block, x)
                point = points.get((stage_index, block_index))
                if point in take_indices:
                    y = self.norm(x) if norm and stage_index == last else x
                    intermediates.append(self._to_nchw(y, grid) if output_fmt == "NCHW" else self._to_nlc(y))
                if stop_early and point == max_index:
                    break
        if intermediates_only:
            return intermediates
        return self.norm(x), intermediates

    def prune_intermediate_layers(
            self, indices: int | list[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the blocks after the last wanted feature point (and the norm/head if asked)."""
        take_indices, max_index = feature_take_indices(len(self._feature_points), indices)
        stage, block = self._feature_points[max_index]
        self.stages = self.stages[: stage + 1]
        self.stages[stage].blocks = self.stages[stage].blocks[: block + 1]
        if prune_norm:
            self.norm = nn.Identity()
        if prune_head:
            self.reset_classifier(0, "")
        return take_indices

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute block activations in the backward pass (less memory, same result)."""
        self.grad_checkpointing = enable

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier (``num_classes=0``: none) and optionally the pooling."""
        self.num_classes = num_classes
        if global_pool is not None:
            self.global_pool = global_pool
        weight = next(self.parameters())
        self.head = (
            nn.Linear(self.num_features, num_classes, device=weight.device, dtype=weight.dtype)
            if num_classes > 0 else nn.Identity()
        )

    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """Parameter groups for layer-wise learning-rate decay (timm convention)."""
        return dict(stem=r"^stem|^cls_token|^pos_embed|^cls_pos_embed",
                    blocks=[(r"^stages\.(\d+)\.downsample", (0,)), (r"^stages\.(\d+)\.blocks\.(\d+)", None),
                            (r"^norm", (99999,))])

    def no_weight_decay(self) -> set[str]:
        """Parameters exempt from weight decay: norms, biases, Affine, LayerScale and embeddings."""
        return {
            name for name, param in self.named_parameters()
            if param.ndim <= 1 or name in ("cls_token", "pos_embed", "cls_pos_embed")
        }

    def load_pretrained(self, checkpoint_path: str) -> None:
        """Load a checkpoint in any supported layout (ours, timm's, the authors'), resampled to this grid.

        timm calls this for ``pretrained=True`` (from a file, URL or the hub), since every mlpvision
        ``pretrained_cfg`` sets ``custom_load``.
        """
        state, metadata = read_checkpoint(checkpoint_path, weights_key_of(self))
        check_architecture(metadata, self, str(checkpoint_path))
        if self.checkpoint_filter is not None:
            state = self.checkpoint_filter(state, self)
        source_img_size = None
        if "img_size" in metadata:
            source_img_size = tuple(int(side) for side in metadata["img_size"].split("x"))
        state = resample_token_mixers(self, state, str(checkpoint_path), source_img_size)
        load_checked(self, state, str(checkpoint_path))

