"""Parameter and multiply-accumulate counts, on the meta device (no memory, no time).

GMACs follow fvcore's convention, which the papers and ``variants.csv`` use: one multiply-add of a matmul,
linear or convolution counts once, a LayerNorm or GroupNorm counts 5 per element (4 without affine parameters), an
inference-mode BatchNorm 2 per element (1 without), and element-wise ops, pooling, softmax and FFTs are not
counted. It is measured with ``torch.utils.flop_counter.FlopCounterMode`` (which counts 2 per multiply-add) plus
rules for the three norms.
"""

import copy
import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten


def _layer_norm_flops(input_shape, normalized_shape, weight_shape=None, bias_shape=None, *args, **kwargs) -> int:
    per_element = 5 if weight_shape is not None else 4
    return 2 * per_element * math.prod(input_shape)  # FlopCounterMode's unit is half a multiply-add


def _group_norm_flops(input_shape, weight_shape=None, *args, **kwargs) -> int:
    per_element = 5 if weight_shape is not None else 4  # fvcore's rule for group_norm is its layer_norm one
    return 2 * per_element * math.prod(input_shape)


def _batch_norm_flops(input_shape, weight_shape=None, *args, **kwargs) -> int:
    per_element = 2 if weight_shape is not None else 1  # fvcore's inference-mode batch_norm rule
    return 2 * per_element * math.prod(input_shape)


def count_parameters(model: nn.Module) -> int:
    """All ``nn.Parameter`` elements (buffers such as BatchNorm statistics are not counted)."""
    return sum(param.numel() for param in model.parameters())


def count_gmacs(model: nn.Module, input_size: tuple[int, int, int]) -> float:
    """Multiply-accumulates (in 1e9) of one forward pass on a ``(1, *input_size)`` input, on the meta device.

    The model may live on any device; it is copied to the meta device for the count.
    """
    meta_model = model if _is_meta(model) else _to_meta(model)
    rules = {aten.native_layer_norm: _layer_norm_flops, aten.native_group_norm: _group_norm_flops,
             aten._native_batch_norm_legit_no_training: _batch_norm_flops}
    counter = FlopCounterMode(display=False, custom_mapping=rules)
    with counter, torch.no_grad():
        meta_model.eval()(torch.empty(1, *input_size, device="meta"))
    return counter.get_total_flops() / 2 / 1e9


def _is_meta(model: nn.Module) -> bool:
    return all(tensor.is_meta for tensor in (*model.parameters(), *model.buffers()))


def _to_meta(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).to("meta")
