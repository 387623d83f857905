"""Cycle FC (CycleMLP Eq. 3–4): both implementations against the definition, written as loops."""

import pytest
import torch

from mlpvision.layers.cycle_fc import CycleFC, CycleMixer, cycle_offsets


def cycle_fc_by_definition(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, kernel: tuple[int, int]):
    """``y[p, o] = Σ_i W[o, i]·x[p + δ_i, i] + b[o]`` with channel i's offset δ_i along the kernel's long axis."""
    batch, height, width, channels = x.shape
    span = max(kernel)
    out = torch.zeros(batch, height, width, weight.shape[0], dtype=x.dtype)
    for i, offset in enumerate(cycle_offsets(channels, span)):
        dy, dx = (0, offset) if kernel[0] == 1 else (offset, 0)
        shifted = torch.zeros(batch, height, width, dtype=x.dtype)
        for row in range(height):
            for col in range(width):
                if 0 <= row + dy < height and 0 <= col + dx < width:
                    shifted[:, row, col] = x[:, row + dy, col + dx, i]
        out += shifted[..., None] * weight[:, i, 0, 0]
    return out + bias


def test_offsets_cycle_as_the_authors_code():
    assert cycle_offsets(7, 3) == [0, 1, -1, 0, 1, -1, 0]
    assert cycle_offsets(6, 5) == [0, 1, 2, -2, -1, 0]


@pytest.mark.parametrize("kernel", [(1, 3), (3, 1), (1, 5), (7, 1)])
@pytest.mark.parametrize("implementation", ["shift", "deform"])
def test_both_implementations_follow_the_definition(kernel, implementation):
    torch.manual_seed(0)
    layer = CycleFC(10, 6, kernel, implementation).double()
    x = torch.randn(2, 5, 7, 10, dtype=torch.float64)
    expected = cycle_fc_by_definition(x, layer.weight, layer.bias, kernel)
    torch.testing.assert_close(layer(x), expected, rtol=1e-10, atol=1e-10)


def test_shift_and_deform_agree_in_fp32_with_gradients():
    torch.manual_seed(0)
    mixer = CycleMixer(32)
    x = torch.randn(2, 9, 6, 32, requires_grad=True)
    shift = mixer(x)
    shift.square().sum().backward()
    grads = [p.grad.clone() for p in mixer.parameters()] + [x.grad.clone()]
    mixer.zero_grad()
    x.grad = None
    for layer in (mixer.sfc_h, mixer.sfc_w):
        layer.impl = "deform"
    deform = mixer(x)
    deform.square().sum().backward()
    torch.testing.assert_close(deform, shift, rtol=1e-5, atol=1e-5)
    for expected, got in zip(grads, [p.grad for p in mixer.parameters()] + [x.grad], strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_bad_kernel_and_implementation_are_refused():
    with pytest.raises(ValueError, match=r"\(1, K\) or \(K, 1\)"):
        CycleFC(4, 4, (3, 3))
    with pytest.raises(ValueError, match="'shift' or 'deform'"):
        CycleFC(4, 4, (1, 3), impl="gather")
