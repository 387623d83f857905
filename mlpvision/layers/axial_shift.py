"""AS-MLP's axial shift and token mixer (Lian et al., ICLR 2022, arXiv 2107.08391, §3).

Official code: svip-lab/AS-MLP @ dd1eb4f768f46fdf7c8522fd535ea9e15f664fae (``models/as_mlp.py``: ``AxialShift``;
``models/shift_cuda.py``: the cupy kernel the released models were trained with, and ``torch_shift``, its
pure-PyTorch twin). Both split the channels into ``shift_size`` groups of ``⌈C / shift_size⌉`` (the last one
smaller, as ``torch.chunk``) and move group ``g`` by ``g − ⌊shift_size/2⌋`` positions along one axis, filling with
zeros: no window and no wrap-around, so any grid works. The paper's dilation is not in the code and not here.
"""

import torch
import torch.nn.functional as F
from timm.layers import GroupNorm1, register_notrace_function
from torch import nn

from .token_mixer import Grid, TokenMixer


@register_notrace_function  # timm's FX feature extraction
def axial_shift(x: torch.Tensor, shift_size: int, dim: int) -> torch.Tensor:
    """Shift channel group ``g`` of an NCHW ``x`` by ``g − ⌊shift_size/2⌋`` along ``dim`` (2: height, 3: width).

    ``out[..., i] = x[..., i − g + ⌊shift_size/2⌋]``, zero where that index falls outside: the authors' CUDA
    kernel and their ``torch_shift`` (pad, ``torch.roll`` each chunk, crop) element for element. Written as one zero
    pad and a slice per group, which exports to ONNX. A leaf of traced graphs (``torch.fx.wrap`` below): the
    groups follow the input's channel count, which a symbolic trace does not know.
    """
    if dim not in (2, 3):
        raise ValueError(f"the axial shift runs along the height (dim 2) or the width (dim 3) of NCHW, got dim={dim}")
    half, length = shift_size // 2, x.shape[dim]
    padded = F.pad(x, [half, half] if dim == 3 else [0, 0, half, half])
    groups = padded.chunk(shift_size, dim=1)  # may be fewer than shift_size groups for few channels, as the code's
    return torch.cat([group.narrow(dim, 2 * half - g, length) for g, group in enumerate(groups)], dim=1)


torch.fx.wrap("axial_shift")


class AxialShift(TokenMixer, name="axial_shift"):
    """AS-MLP's token mixer (code: ``AxialShift``), NCHW; every linear is a 1×1 convolution, as in the code.

    ``y = FC₂(Norm₂(GELU(FC_h(shift_w(z))) + GELU(FC_v(shift_h(z)))))`` with ``z = GELU(Norm₁(FC₁(x)))``: one channel
    projection, then the horizontal (along the width) and vertical (along the height) shifts in parallel, each
    followed by its own channel projection, summed. The norms are the code's ``MyNorm``, a GroupNorm with one group
    (normalising over channels and positions together). Code names: ``conv1`` → ``fc1``, ``conv2_1`` →
    ``fc_horizontal``, ``conv2_2`` → ``fc_vertical``, ``conv3`` → ``fc2``. No grid-sized weights.

    Args:
        dim: channels.
        grid_size: accepted for the mixer contract; unused (the shift works on any grid).
        shift_size: the number of channel groups and so the receptive field along each axis (odd; 5 in every
            released model).
        bias: biases on the four projections (the code's ``as_bias``).
    """

    layout = "NCHW"
    example_args = dict(shift_size=5)

    def __init__(self, dim: int, grid_size: Grid | None = None, shift_size: int = 5, bias: bool = True) -> None:
        super().__init__()
        if shift_size < 1 or shift_size % 2 == 0:
            raise ValueError(f"shift_size must be a positive odd number (the shifts are centred), got {shift_size}")
        self.shift_size = shift_size
        self.fc1 = nn.Conv2d(dim, dim, 1, bias=bias)
        self.norm1 = GroupNorm1(dim)
        self.act = nn.GELU()
        self.fc_horizontal = nn.Conv2d(dim, dim, 1, bias=bias)
        self.fc_vertical = nn.Conv2d(dim, dim, 1, bias=bias)
        self.norm2 = GroupNorm1(dim)
        self.fc2 = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.fc1(x)))
        horizontal = self.act(self.fc_horizontal(axial_shift(x, self.shift_size, 3)))
        vertical = self.act(self.fc_vertical(axial_shift(x, self.shift_size, 2)))
        return self.fc2(self.norm2(horizontal + vertical))

    def extra_repr(self) -> str:
        return f"shift_size={self.shift_size}"
