"""The strided convolution between layouts (``layers/conv_embed.py``): the same result in NCHW and NHWC."""

import torch
from torch import nn

from mlpvision.layers import ConvEmbed


def test_channels_last_in_and_out_is_the_nchw_convolution_permuted():
    torch.manual_seed(0)
    nchw = ConvEmbed(3, 8, kernel_size=2, stride=2, norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU).eval()
    nhwc = ConvEmbed(3, 8, kernel_size=2, stride=2, norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU,
                     input_fmt="NHWC", output_fmt="NHWC").eval()
    nhwc.load_state_dict(nchw.state_dict())
    x = torch.randn(2, 3, 8, 6)
    out = nchw(x)
    assert out.shape == (2, 8, 4, 3)
    torch.testing.assert_close(nhwc(x.permute(0, 2, 3, 1)), out.permute(0, 2, 3, 1))
