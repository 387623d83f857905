"""timm's model API written once (``BackboneApi``) and the isotropic backbone built on it (``MlpBackbone``).

Isotropic layout: ``stem`` (patch embedding, optional norm) → ``stages.0.blocks.{i}`` (channels-last
``[B, H, W, C]`` tensors) → ``norm`` → mean over tokens → ``head_drop`` → ``head``. Families supply the blocks
through a ``BlockFn`` and their weight initialisation; families with extra tokens (FF-only's class token) override
the ``_embed`` / ``_pool`` / ``_to_nchw`` hooks. Multi-stage families use ``_hierarchical.HierarchicalBackbone``.
"""

from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

import torch
from timm.layers import PatchEmbed, to_2tuple
from timm.models._features import feature_take_indices
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


class BlockFn(Protocol):
    """Builds block ``index`` of a stage: channels, token grid, stochastic-depth rate."""

    def __call__(self, dim: int, grid_size: Grid, drop_path: float) -> nn.Module: ...


def drop_path_rates(rate: float, depth: int, schedule: Literal["linear", "constant"]) -> list[float]:
    """Per-block stochastic-depth rates: ``linear`` from 0 to ``rate`` over the blocks, or ``constant``."""
    if schedule == "constant":
        return [rate] * depth
    return [rate * i / max(depth - 1, 1) for i in range(depth)]


class MlpStage(nn.Module):
    """A run of blocks at one resolution and width."""

    def __init__(self, blocks: Sequence[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class BackboneApi(nn.Module):
    """What every mlpvision model shares: input checks, classifier, weight decay groups and weight loading.

    Subclasses set ``img_size``, ``in_chans``, ``input_stride`` (the total downsampling), ``size_agnostic``,
    ``num_features``, ``num_classes``, ``global_pool``, ``stages`` (each with ``blocks``), ``norm``, ``head_drop``,
    ``head``, ``grad_checkpointing`` and ``checkpoint_filter``, and define ``forward_features`` and ``_pool``
    (``forward_features``' output → ``[B, C]``).
    """

    img_size: tuple[int, int]
    in_chans: int
    input_stride: int
    size_agnostic: bool
    num_features: int
    head: nn.Module

    @property
    def architecture(self) -> str:
        """The registered name this model was built under (its class name when built directly)."""
        return (getattr(self, "pretrained_cfg", None) or {}).get("architecture", type(self).__name__)

    def _check_input(self, x: torch.Tensor) -> None:
        """Raise a ``ValueError`` saying what to do when ``x`` is not an image batch this model takes."""
        name = self.architecture
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"{name} takes images shaped [batch, {self.in_chans}, height, width], got {list(x.shape)}"
            )
        height, width = x.shape[-2:]
        if self.size_agnostic:
            if height % self.input_stride or width % self.input_stride or min(height, width) == 0:
                raise ValueError(
                    f"{name} takes images whose sides are positive multiples of {self.input_stride}, "
                    f"got {height}x{width}"
                )
        elif (height, width) != self.img_size:
            h, w = self.img_size
            raise ValueError(
                f"{name} was built for {h}x{w} images, got {height}x{width}: resize the input to {h}x{w}, or build "
                f"the model for this size with img_size=({height}, {width}), e.g. "
                f"timm.create_model('{name}', img_size=({height}, {width})) (pretrained token-mixing weights are "
                f"resampled when loaded)"
            )

    def _run_block(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """One block, recomputed in the backward pass when gradient checkpointing is on."""
        if self.grad_checkpointing and self.training:
            return checkpoint(block, x, use_reentrant=False)
        return block(x)

    @property
    def blocks(self) -> list[nn.Module]:
        """Every block, in order, across stages."""
        return [block for stage in self.stages for block in stage.blocks]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool, dropout and classify ``forward_features``' output (``pre_logits``: stop before the classifier)."""
        if self.global_pool:
            x = self._pool(x)
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def _prune_norm_and_head(self, prune_norm: bool, prune_head: bool) -> None:
        """The end of ``prune_intermediate_layers``: drop the final norm and/or the classifier if asked."""
        if prune_norm:
            self.norm = nn.Identity()
        if prune_head:
            self.reset_classifier(0, "")

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


class MlpBackbone(BackboneApi):
    """Patch stem, blocks, final norm, token-mean pooling and a linear classifier.

    Args:
        block_fn: builds each block (see ``BlockFn``).
        depth: number of blocks.
        embed_dim: channels.
        patch_size: side of the square patches of the stem.
        img_size: input size the token-mixing weights are built for (int or (H, W)).
        in_chans: input channels.
        num_classes: classifier outputs; 0 for none.
        global_pool: ``"avg"`` (mean over tokens) or ``""`` (no pooling in ``forward_head``).
        norm_layer: the final norm, or ``None`` for none (S²-MLP).
        stem_norm_layer: a norm after the patch embedding, or ``None``.
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic-depth rate of the last block.
        drop_path_schedule: how the rate grows over the blocks.
        size_agnostic: the blocks have no grid-sized weights, so any input divisible by the patch size works.
        weight_init: the family's initialisation, applied once the modules exist.
        checkpoint_filter: converts foreign checkpoint layouts to this model's keys (the family's).
    """

    num_prefix_tokens = 0

    def __init__(
            self,
            block_fn: BlockFn,
            depth: int,
            embed_dim: int,
            patch_size: int,
            img_size: int | tuple[int, int] = 224,
            in_chans: int = 3,
            num_classes: int = 1000,
            global_pool: str = "avg",
            norm_layer: Callable[[int], nn.Module] | None = None,
            stem_norm_layer: Callable[[int], nn.Module] | None = None,
            drop_rate: float = 0.0,
            drop_path_rate: float = 0.0,
            drop_path_schedule: Literal["linear", "constant"] = "linear",
            size_agnostic: bool = False,
            weight_init: Callable[[nn.Module], None] | None = None,
            checkpoint_filter: CheckpointFilter | None = None,
    ) -> None:
        super().__init__()
        img_size = to_2tuple(img_size)
        if any(side % patch_size for side in img_size) or min(img_size) < patch_size:
            raise ValueError(f"img_size {img_size} must be a positive multiple of the patch size {patch_size}")
        if global_pool not in ("", "avg", "token"):
            raise ValueError(f"global_pool must be 'avg', 'token' or '', got {global_pool!r}")
        self.img_size: tuple[int, int] = tuple(img_size)
        self.patch_size = self.input_stride = patch_size
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.size_agnostic = size_agnostic
        self.num_features = self.head_hidden_size = self.embed_dim = embed_dim
        self.grad_checkpointing = False
        self.checkpoint_filter = checkpoint_filter

        self.stem = PatchEmbed(
            img_size=self.img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim,
            norm_layer=stem_norm_layer, output_fmt="NHWC", strict_img_size=False,
        )
        self.grid_size: Grid = tuple(self.stem.grid_size)
        rates = drop_path_rates(drop_path_rate, depth, drop_path_schedule)
        self.stages = nn.Sequential(MlpStage([block_fn(embed_dim, self.grid_size, rate) for rate in rates]))
        self.feature_info = [
            dict(module=f"stages.0.blocks.{i}", num_chs=embed_dim, reduction=patch_size) for i in range(depth)
        ]
        self.norm = norm_layer(embed_dim) if norm_layer is not None else nn.Identity()
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        if weight_init is not None:
            weight_init(self)

    # ---- the pieces a family with extra tokens overrides -------------------------------------------------

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """Image ``[B, C, H, W]`` → tokens as the blocks take them (here ``[B, h, w, C]``)."""
        return self.stem(x)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens ``[B, N, C]`` after the final norm → ``[B, C]``."""
        return x.mean(dim=1)

    def _to_nchw(self, x: torch.Tensor, grid: Grid) -> torch.Tensor:
        """Block output → a ``[B, C, h, w]`` feature map."""
        return x.permute(0, 3, 1, 2).contiguous()

    def _grid(self, x: torch.Tensor) -> Grid:
        """Check ``x`` and return its token grid."""
        self._check_input(x)
        return x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size

    # ---- timm's model API --------------------------------------------------------------------------------

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Unpooled tokens ``[B, N, C]`` after the final norm."""
        self._check_input(x)
        x = self._embed(x)
        for block in self.blocks:
            x = self._run_block(block, x)
        return self.norm(x.flatten(1, -2))

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: int | list[int] | None = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = "NCHW",
            intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """Block outputs (``indices``: last n if int, all if None), as NCHW maps or NLC tokens, and the features."""
        if output_fmt not in ("NCHW", "NLC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NLC', got {output_fmt!r}")
        grid = self._grid(x)
        blocks = self.blocks
        take_indices, max_index = feature_take_indices(len(blocks), indices)
        x = self._embed(x)
        intermediates = []
        for i, block in enumerate(blocks[: max_index + 1] if stop_early else blocks):
            x = self._run_block(block, x)
            if i in take_indices:
                y = self.norm(x) if norm else x
                intermediates.append(self._to_nchw(y, grid) if output_fmt == "NCHW" else y.flatten(1, -2))
        if intermediates_only:
            return intermediates
        return self.norm(x.flatten(1, -2)), intermediates

    def prune_intermediate_layers(
            self, indices: int | list[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the blocks after the last wanted intermediate (and the norm/head if asked)."""
        take_indices, max_index = feature_take_indices(len(self.blocks), indices)
        stage = self.stages[0]
        stage.blocks = stage.blocks[: max_index + 1]
        self._prune_norm_and_head(prune_norm, prune_head)
        return take_indices
