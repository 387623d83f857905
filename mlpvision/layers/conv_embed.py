"""A strided convolution between tensor layouts: the patch stem and the stage transitions of multi-stage MLPs."""

from collections.abc import Callable

import torch
from torch import nn

from .token_mixer import Layout


class ConvEmbed(nn.Module):
    """``proj`` (a strided ``Conv2d``), then an optional ``norm`` and ``act``, reading and writing either layout.

    ViP, DynaMixer and CycleMLP keep channels-last tensors and convolve in NCHW (``input_fmt``/``output_fmt``
    ``"NHWC"``); sMLPNet and RepMLPNet stay in NCHW and add a BatchNorm (RepMLPNet also a ReLU).
    """

    def __init__(
            self,
            in_chans: int,
            out_chans: int,
            kernel_size: int,
            stride: int,
            padding: int = 0,
            bias: bool = True,
            norm_layer: Callable[[int], nn.Module] | None = None,
            act_layer: Callable[[], nn.Module] | None = None,
            input_fmt: Layout = "NCHW",
            output_fmt: Layout = "NCHW",
    ) -> None:
        super().__init__()
        self.input_fmt, self.output_fmt = input_fmt, output_fmt
        self.proj = nn.Conv2d(in_chans, out_chans, kernel_size, stride=stride, padding=padding, bias=bias)
        self.norm = norm_layer(out_chans) if norm_layer is not None else nn.Identity()
        self.act = act_layer() if act_layer is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_fmt == "NHWC":
            x = x.permute(0, 3, 1, 2)
        x = self.act(self.norm(self.proj(x)))
        return x.permute(0, 2, 3, 1) if self.output_fmt == "NHWC" else x
