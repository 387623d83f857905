"""The token-mixer contract, written down once as a base class, and the resampling helper every mixer uses.

A token mixer is the only part of a MetaFormer block that differs between MLP families (MetaFormer, Eq. 2).
Every mixer in ``mlpvision.layers`` subclasses ``TokenMixer`` under its paper name (``class TokenMlp(TokenMixer,
name="token_mlp")``), which registers it in ``TOKEN_MIXERS``, and follows this contract:

* constructor: ``dim`` (channels) and ``grid_size`` (token rows, columns) as keywords, plus the mixer's own
  paper hyper-parameters as typed keywords with the paper's names; a mixer that does not need ``grid_size``
  accepts it and says so in its docstring; where a mixer can compute its function in several ways, the choice is
  the keyword ``impl`` (``impls`` lists the values, the default first);
* forward: one tensor in ``layout`` in, the same shape out; ``"NHWC"`` (channels-last ``[B, H, W, C]``, the
  default) or ``"NCHW"`` for a mixer of a convolutional family. It is the token-mixing term only: the block owns
  the norm, residual, layer scale and drop path, and takes its own layout from the mixer;
* grid-dependent state: ``resample_state(state, old_grid, new_grid)`` converts the mixer's own state dict (keys
  relative to the mixer) from a checkpoint made at ``old_grid`` to ``new_grid``, ``token_count(state)`` says how
  many tokens a checkpoint's state was made for; the defaults are those of a mixer without grid-sized weights;
* ``token_filters()``: the weights over the input tokens that ``mlpvision analyze weights`` draws, or ``None``;
* inference form: ``reparameterize()`` (timm's ``reparameterize_model`` calls it) turns the mixer into its
  inference structure; ``to_export_form()`` also picks the ``impl`` that ONNX and ``torch.export`` express;
* ``example_args``: the paper hyper-parameters of a small (16-channel) instance, for the contract tests.
"""

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

Grid = tuple[int, int]
Layout = Literal["NHWC", "NCHW"]

# paper name -> mixer class, filled by ``TokenMixer.__init_subclass__``; drives the contract tests
TOKEN_MIXERS: dict[str, type["TokenMixer"]] = {}


class TokenMixer(nn.Module):
    """The base of every token mixer (see the module docstring); its defaults suit a mixer with nothing to add."""

    name: ClassVar[str]
    layout: ClassVar[Layout] = "NHWC"
    impls: ClassVar[tuple[str, ...]] = ()
    export_impl: ClassVar[str | None] = None
    example_args: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name is None:
            return
        if name in TOKEN_MIXERS:
            raise ValueError(f"token mixer name {name!r} is taken by {TOKEN_MIXERS[name].__qualname__}")
        cls.name = name
        TOKEN_MIXERS[name] = cls

    def token_count(self, state: dict[str, torch.Tensor]) -> int | None:
        """The number of tokens ``state`` (this mixer's keys) was made for; ``None``: no grid-sized weights."""
        return None

    def resample_state(
            self, state: dict[str, torch.Tensor], old_grid: Grid, new_grid: Grid
    ) -> dict[str, torch.Tensor]:
        """``state`` made at ``old_grid`` converted to ``new_grid``; unchanged without grid-sized weights."""
        return state

    def token_filters(self) -> tuple[torch.Tensor, str] | None:
        """``(filters, what)``: filters shaped ``[F, H, W]`` over the input token grid, and what each filter is."""
        return None

    def reparameterize(self) -> None:
        """Become the inference form computing the same function (eval-mode statistics); nothing to do by default."""

    def to_export_form(self) -> None:
        """The inference form, computed by operations that ONNX and ``torch.export`` express."""
        self.reparameterize()
        if self.export_impl is not None:
            self.impl = self.export_impl


def resize_token_axis(
        tensor: torch.Tensor,
        axis: int,
        old_grid: Grid,
        new_grid: Grid,
        summed: bool,
        prefix_tokens: int = 0,
) -> torch.Tensor:
    """Resize one token axis of a weight from ``old_grid`` to ``new_grid``.

    The axis (``prefix_tokens`` non-spatial entries such as a class token, then H*W tokens in raster order) is
    viewed as an H x W image and resized with bicubic interpolation (``align_corners=False``); prefix entries are
    kept as they are. An axis that the layer sums over (``summed=True``: an input axis) is also scaled by
    ``old_tokens / new_tokens``, so that a spatially constant input keeps its response.
    """
    if tuple(old_grid) == tuple(new_grid):
        return tensor
    old_tokens, new_tokens = old_grid[0] * old_grid[1], new_grid[0] * new_grid[1]
    if tensor.shape[axis] != prefix_tokens + old_tokens:
        raise ValueError(
            f"token axis {axis} has {tensor.shape[axis]} entries, "
            f"expected {prefix_tokens} + {old_grid[0]}x{old_grid[1]}"
        )
    moved = tensor.movedim(axis, -1)
    lead = moved.shape[:-1]
    prefix, spatial = moved[..., :prefix_tokens], moved[..., prefix_tokens:]
    images = spatial.reshape(-1, 1, *old_grid).float()
    resized = F.interpolate(images, size=tuple(new_grid), mode="bicubic", align_corners=False)
    resized = resized.reshape(*lead, new_tokens).to(tensor.dtype)
    if summed:
        resized = resized * (old_tokens / new_tokens)
    return torch.cat([prefix, resized], dim=-1).movedim(-1, axis).contiguous()
