"""CycleMLP's Cycle FC and token mixer (Chen et al., ICLR 2022, arXiv 2107.10224, §3.1, Eq. 2–4)."""

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import deform_conv2d

from .split_attention import SplitAttention
from .token_mixer import Grid, TokenMixer

CycleImpl = Literal["shift", "deform"]


def cycle_offsets(channels: int, span: int) -> list[int]:
    """Channel i reads the position ``(i + ⌊span/2⌋) mod span − ⌊span/2⌋`` away along its axis (Eq. 3).

    The offsets of the authors' code (``CycleFC.gen_offset``): for span 3 the channels read 0, +1, −1, 0, +1, …
    """
    return [(i + span // 2) % span - span // 2 for i in range(channels)]


class CycleFC(nn.Module):
    """A channel FC whose input channel i is read ``cycle_offsets[i]`` positions away along one axis.

    ``kernel_size`` is the paper's pseudo-kernel: ``(1, K)`` steps along the width, ``(K, 1)`` along the height;
    outside the image reads zero. Two exact implementations (``impl``): ``"shift"`` (default) shifts each residue
    class of channels by slicing a zero-padded copy and applies one linear (the weight's input columns reordered to
    match), which exports to ONNX; ``"deform"`` is the authors' formulation, ``torchvision.ops.deform_conv2d``
    with a 1×1 weight and fixed integer offsets. Tensors are channels-last ``[B, H, W, C]``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: ``(1, K)`` or ``(K, 1)``.
        impl: ``"shift"`` or ``"deform"``.
    """

    def __init__(
            self,
            in_channels: int,
            out_channels: int,
            kernel_size: tuple[int, int],
            impl: CycleImpl = "shift",
    ) -> None:
        super().__init__()
        if 1 not in kernel_size:
            raise ValueError(f"a Cycle FC's pseudo-kernel is (1, K) or (K, 1), got {kernel_size}")
        if impl not in ("shift", "deform"):
            raise ValueError(f"impl must be 'shift' or 'deform', got {impl!r}")
        self.kernel_size = tuple(kernel_size)
        self.span = max(kernel_size)
        self.axis = 2 if kernel_size[0] == 1 else 1  # channels-last: width is dim 2, height dim 1
        self.impl: CycleImpl = impl
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.empty(out_channels))
        # input channels grouped by residue class (channel i reads offset of residue i mod span)
        order = torch.cat([torch.arange(r, in_channels, self.span) for r in range(self.span)])
        self.register_buffer("channel_order", order, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(self.weight.shape[1])
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._deform(x) if self.impl == "deform" else self._shift(x)

    def _shift(self, x: torch.Tensor) -> torch.Tensor:
        half, length = self.span // 2, x.shape[self.axis]
        pad = [0, 0, half, half] if self.axis == 2 else [0, 0, 0, 0, half, half]
        padded = F.pad(x, pad)
        groups = [
            padded[..., residue::self.span].narrow(self.axis, half + offset, length)
            for residue, offset in enumerate(cycle_offsets(self.span, self.span))
        ]
        weight = self.weight.flatten(1)[:, self.channel_order]
        return F.linear(torch.cat(groups, dim=-1), weight, self.bias)

    def _deform(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, channels = x.shape
        shifts = torch.tensor(cycle_offsets(channels, self.span), dtype=x.dtype, device=x.device)
        zeros = torch.zeros_like(shifts)
        dy, dx = (shifts, zeros) if self.axis == 1 else (zeros, shifts)
        offset = torch.stack([dy, dx], dim=1).reshape(1, 2 * channels, 1, 1).expand(batch, -1, height, width)
        out = deform_conv2d(x.permute(0, 3, 1, 2), offset, self.weight, self.bias)
        return out.permute(0, 2, 3, 1)


class CycleMixer(TokenMixer, name="cycle_mlp"):
    """CycleMLP's token mixer: Cycle FCs along the width (1×3) and height (3×1), a channel linear, split attention.

    The attribute names follow the code: ``sfc_h`` has the ``(1, 3)`` pseudo-kernel (it steps along the width)
    and ``sfc_w`` the ``(3, 1)`` one. No grid-sized weights: any input size works.

    Args:
        dim: channels.
        grid_size: unused: no weight depends on the grid.
        impl: the Cycle FCs' implementation (see ``CycleFC``).
    """

    impls = ("shift", "deform")
    export_impl = "shift"  # ONNX has no deform_conv2d
    __jit_unused_properties__ = ["impl"]  # TorchScript: forward reads the Cycle FCs' own

    def __init__(self, dim: int, grid_size: Grid | None = None, impl: CycleImpl = "shift") -> None:
        super().__init__()
        self.mlp_c = nn.Linear(dim, dim, bias=False)
        self.sfc_h = CycleFC(dim, dim, (1, 3), impl)
        self.sfc_w = CycleFC(dim, dim, (3, 1), impl)
        self.reweight = SplitAttention(dim)
        self.proj = nn.Linear(dim, dim)

    @property
    def impl(self) -> CycleImpl:
        return self.sfc_h.impl

    @impl.setter
    def impl(self, impl: CycleImpl) -> None:
        self.sfc_h.impl = self.sfc_w.impl = impl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.reweight.combine([self.sfc_h(x), self.sfc_w(x), self.mlp_c(x)]))
