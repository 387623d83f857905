"""Ours against a reference computing the same function, timed interleaved in one process: the ratio is the result.

* ``timm``: each mlpvision model with a timm twin (``mlpv_mixer_b16`` ↔ ``mixer_b16_224``, ResMLP, gMLP) gets the
  twin's random weights through our checkpoint loader; the pair is refused unless the logits agree to 1e-5.
* ``dense``: a CCS model against itself with every circulant mixer forced to the dense matrix (the mixers whose
  ``impls`` include ``"dense"``), and the automatic choice against both forced paths.
"""

import copy
import dataclasses
import statistics

import timm
import torch
from torch import nn

from ..layers import TokenMixer
from .timing import PRECISIONS, _step_fn, prepare, time_steps

TIMM_TWINS = {
    **{f"mlpv_mixer_{v}": f"mixer_{v}_224" for v in ("s32", "s16", "b32", "b16", "l32", "l16")},
    **{f"mlpv_resmlp_{v}": f"resmlp_{v}_224" for v in ("12", "24", "36")},
    "mlpv_resmlp_b24": "resmlp_big_24_224",
    **{f"mlpv_gmlp_{v}": f"gmlp_{v}_224" for v in ("ti16", "s16", "b16")},
}
SAME_FUNCTION_TOLERANCE = 1e-5


class DifferentFunctionError(ValueError):
    """The two models of a comparison do not compute the same function."""


@dataclasses.dataclass
class Comparison:
    model: str
    reference: str
    mode: str
    batch_size: int
    img_size: int
    ours_ms: float
    reference_ms: float
    ratio: float  # reference time ÷ our time: > 1 means ours is faster
    max_abs_diff: float


def _randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.02 + 0.01)
    return model


def timm_pair(name: str, img_size: int = 224) -> tuple[nn.Module, nn.Module]:
    """(ours, timm's twin) holding the same random weights (the head too)."""
    if name not in TIMM_TWINS:
        raise ValueError(f"{name} has no timm twin; twins: {', '.join(TIMM_TWINS)}")
    reference = _randomize(timm.create_model(TIMM_TWINS[name], img_size=img_size)).eval()
    ours = timm.create_model(name, img_size=img_size).eval()
    state = ours.checkpoint_filter(reference.state_dict(), ours)
    ours.load_state_dict(state)
    return ours, reference


def _dense_mixers(model: nn.Module) -> list[TokenMixer]:
    return [m for m in model.modules() if isinstance(m, TokenMixer) and "dense" in m.impls]


def dense_pair(name: str, img_size: int = 224, impl: str = "auto") -> tuple[nn.Module, nn.Module]:
    """(the model with its mixers on ``impl``, the same weights with every mixer that has a dense form on it)."""
    ours = _randomize(timm.create_model(name, img_size=img_size)).eval()
    if not _dense_mixers(ours):
        raise ValueError(f"{name} has no token mixer with a dense form (CCS) to compare with")
    for mixer in _dense_mixers(ours):
        mixer.impl = impl
    dense = copy.deepcopy(ours)
    for mixer in _dense_mixers(dense):
        mixer.impl = "dense"
    return ours, dense


def check_same_function(ours: nn.Module, reference: nn.Module, img_size: int) -> float:
    """Max |Δlogits| on a random batch; raises ``DifferentFunctionError`` above the tolerance."""
    x = torch.randn(2, 3, img_size, img_size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = (ours(x) - reference(x)).abs().max().item()
    if not diff <= SAME_FUNCTION_TOLERANCE:
        raise DifferentFunctionError(
            f"the two models compute different functions (max |Δlogits| {diff:.3g} > {SAME_FUNCTION_TOLERANCE}); "
            f"refusing to compare their speed"
        )
    return diff


def compare(
        name: str,
        ours: nn.Module,
        reference_name: str,
        reference: nn.Module,
        *,
        mode: str = "infer",
        batch_size: int = 32,
        img_size: int = 224,
        device: str = "cpu",
        precision: str = "fp32",
        repeats: int = 5,
        steps: int = 2,
        warmup: int = 2,
) -> Comparison:
    """Check both compute the same function, then time them alternately (ours, reference, ours, …)."""
    diff = check_same_function(ours, reference, img_size)
    target = torch.device(device)
    dtype = PRECISIONS[precision]
    steps_fns = []
    for model in (ours, reference):
        prepared, batch = prepare(model, batch_size, img_size, target, mode, False, False)
        steps_fns.append(_step_fn(prepared, batch, mode, dtype, target))
    for step in steps_fns:
        for _ in range(warmup):
            step()
    times: list[list[float]] = [[], []]
    for _ in range(repeats):
        for index, step in enumerate(steps_fns):
            times[index].append(time_steps(step, target, steps))
    ours_s, reference_s = statistics.median(times[0]), statistics.median(times[1])
    return Comparison(name, reference_name, mode, batch_size, img_size, round(1e3 * ours_s, 2),
                      round(1e3 * reference_s, 2), round(reference_s / ours_s, 3), diff)
