"""Cost curves: throughput against input size, batch size, or (for the CCS mixer) token count."""

import dataclasses
import statistics
from collections.abc import Callable

import timm
import torch

from ..layers.circulant import CirculantChannelSpecific
from .timing import measure, time_steps

IMG_SIZES = (128, 160, 192, 224, 256, 320)
BATCH_SIZES = (1, 8, 32, 64)
TOKEN_GRIDS = ((7, 7), (10, 10), (14, 14), (20, 20), (28, 28), (40, 40), (56, 56))
IMPLS = ("fft", "dense", "auto")


@dataclasses.dataclass
class TokenPoint:
    tokens: int
    impl: str
    chosen: str
    mode: str
    ms: float


def sweep_models(models: list[str], axis: str, batch_size: int, img_size: int, **options) -> list[dict]:
    """``measure`` each model at every point of ``axis`` ('img-size' or 'batch'); one row per point."""
    rows = []
    points = IMG_SIZES if axis == "img-size" else BATCH_SIZES
    for name in models:
        for point in points:
            size, batch = (point, batch_size) if axis == "img-size" else (img_size, point)
            model = timm.create_model(name, img_size=size)
            rows.append(dataclasses.asdict(measure(name, model, batch_size=batch, img_size=size, **options)))
    return rows


def _mixer_step(mixer: CirculantChannelSpecific, x: torch.Tensor, mode: str) -> Callable[[], object]:
    if mode == "infer":
        def infer() -> torch.Tensor:
            with torch.inference_mode():
                return mixer(x)
        return infer

    def forward_backward() -> torch.Tensor:
        out = mixer(x.detach().requires_grad_())
        out.sum().backward()
        return out
    return forward_backward


def sweep_circulant(channels: int = 768, groups: int = 8, work: int = 32 * 196, repeats: int = 5,
                    modes: tuple[str, ...] = ("infer", "train"),
                    grids: tuple[tuple[int, int], ...] = TOKEN_GRIDS) -> list[TokenPoint]:
    """The CCS mixer alone on (B, N, C) tokens, FFT vs dense vs the automatic choice, interleaved per point.

    The batch keeps B·N near ``work`` tokens so every point costs about the same.
    """
    cpu = torch.device("cpu")
    points = []
    for grid in grids:
        tokens = grid[0] * grid[1]
        x = torch.randn(max(1, work // tokens), *grid, channels)
        mixers = {impl: CirculantChannelSpecific(channels, grid, groups, impl=impl) for impl in IMPLS}
        for mixer in mixers.values():
            mixer.weight.data.copy_(mixers["fft"].weight.data)
        chosen = mixers["auto"].resolved_impl(tokens)
        for mode in modes:
            steps = {impl: _mixer_step(mixer, x, mode) for impl, mixer in mixers.items()}
            for step in steps.values():
                step()  # warm-up
            times: dict[str, list[float]] = {impl: [] for impl in steps}
            for _ in range(repeats):
                for impl, step in steps.items():
                    times[impl].append(time_steps(step, cpu, 2))
            points += [TokenPoint(tokens, impl, chosen, mode, round(1e3 * statistics.median(values), 3))
                       for impl, values in times.items()]
    return points
