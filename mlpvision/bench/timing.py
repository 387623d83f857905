"""timm's ``benchmark.py`` measurement method as functions: warm-up, synchronised steps, repeats, batch decay on OOM.

Every figure is a median over ``repeats`` timed runs of ``steps`` steps each, with the spread (min and max of the
per-run step times) beside it. Memory is the CUDA allocator's peak on GPUs and, on the CPU, the peak of live tensor
storage during one step, tracked by a dispatch mode (``tensor_memory_peak``).
"""

import contextlib
import dataclasses
import statistics
import time
import weakref
from collections.abc import Callable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ..complexity import count_gmacs, count_parameters

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclasses.dataclass
class Timing:
    model: str
    mode: str
    device: str
    precision: str
    batch_size: int
    img_size: int
    params: int
    gmacs: float
    samples_per_sec: float
    step_ms: float
    step_ms_min: float
    step_ms_max: float
    peak_memory_mb: float
    gflops_per_sec: float


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _LiveTensorBytes(TorchDispatchMode):
    """Tracks the bytes of tensor storages created inside the mode that are still alive, and their peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()

    def _release(self, key: int, nbytes: int) -> None:
        self.live -= nbytes
        self._seen.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in tree_flatten(out)[0]:
            if isinstance(value, torch.Tensor) and value.device.type == "cpu":
                storage = value.untyped_storage()
                key = storage.data_ptr()
                if key and key not in self._seen:
                    self._seen.add(key)
                    self.live += storage.nbytes()
                    self.peak = max(self.peak, self.live)
                    weakref.finalize(storage, self._release, key, storage.nbytes())
        return out


def tensor_memory_peak(step: Callable[[], object]) -> int:
    """Peak bytes of CPU tensor storage allocated during ``step()`` and alive at the same time."""
    mode = _LiveTensorBytes()
    with mode:
        step()
    return mode.peak


def _step_fn(model: nn.Module, batch: torch.Tensor, mode: str, dtype: torch.dtype, device: torch.device
             ) -> Callable[[], object]:
    autocast = (torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext())
    if mode == "infer":
        def infer() -> torch.Tensor:
            with torch.inference_mode(), autocast:
                return model(batch)
        return infer
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    target = torch.zeros(batch.shape[0], dtype=torch.long, device=device)

    def train_step() -> torch.Tensor:
        with autocast:
            loss = nn.functional.cross_entropy(model(batch), target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss
    return train_step


def time_steps(step: Callable[[], object], device: torch.device, steps: int) -> float:
    """Seconds per step, averaged over ``steps`` synchronised steps."""
    synchronize(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return (time.perf_counter() - started) / steps


def prepare(model: nn.Module, batch_size: int, img_size: int, device: torch.device, mode: str,
            channels_last: bool, compile_model: bool) -> tuple[nn.Module, torch.Tensor]:
    model = model.to(device).train(mode == "train")
    batch = torch.randn(batch_size, 3, img_size, img_size, device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        batch = batch.contiguous(memory_format=torch.channels_last)
    if compile_model:
        model = torch.compile(model)
    return model, batch


def measure(
        name: str,
        model: nn.Module,
        *,
        mode: str = "infer",
        batch_size: int = 32,
        img_size: int = 224,
        device: str = "cpu",
        precision: str = "fp32",
        repeats: int = 5,
        steps: int = 3,
        warmup: int = 2,
        channels_last: bool = False,
        compile_model: bool = False,
) -> Timing:
    """Time one model in one mode; on CUDA out-of-memory the batch is halved and the measurement retried."""
    target = torch.device(device)
    while True:
        try:
            return _measure(name, model, mode, batch_size, img_size, target, precision, repeats, steps, warmup,
                            channels_last, compile_model)
        except torch.OutOfMemoryError:
            if batch_size == 1:
                raise
            batch_size //= 2
            torch.cuda.empty_cache()
            print(f"{name}: out of memory, retrying with batch size {batch_size}")


def _measure(name, model, mode, batch_size, img_size, device, precision, repeats, steps, warmup, channels_last,
             compile_model) -> Timing:
    dtype = PRECISIONS[precision]
    gmacs = count_gmacs(model, (3, img_size, img_size))
    params = count_parameters(model)
    model, batch = prepare(model, batch_size, img_size, device, mode, channels_last, compile_model)
    step = _step_fn(model, batch, mode, dtype, device)
    for _ in range(warmup):
        step()
    per_step = [time_steps(step, device, steps) for _ in range(repeats)]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        step()
        synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
    else:
        peak = tensor_memory_peak(step) + sum(t.nbytes for t in model.state_dict().values()) + batch.nbytes
    median = statistics.median(per_step)
    work = gmacs * 2 * (3 if mode == "train" else 1)  # FLOPs per image: 2 per MAC; backward ≈ 2× forward
    return Timing(
        model=name, mode=mode, device=device.type, precision=precision, batch_size=batch_size, img_size=img_size,
        params=params, gmacs=round(gmacs, 3), samples_per_sec=round(batch_size / median, 2),
        step_ms=round(1e3 * median, 2), step_ms_min=round(1e3 * min(per_step), 2),
        step_ms_max=round(1e3 * max(per_step), 2), peak_memory_mb=round(peak / 2**20, 1),
        gflops_per_sec=round(work * batch_size / median, 3),
    )


def matmul_peak(device: str = "cpu", precision: str = "fp32", size: int = 2048, repeats: int = 10) -> float:
    """Dense square matmul throughput in GFLOP/s (median of ``repeats`` after 2 warm-ups): the machine's ceiling."""
    target = torch.device(device)
    dtype = PRECISIONS[precision]
    a = torch.randn(size, size, device=target, dtype=dtype)
    b = torch.randn(size, size, device=target, dtype=dtype)
    step = lambda: torch.mm(a, b)  # noqa: E731
    for _ in range(2):
        step()
    seconds = statistics.median(time_steps(step, target, 1) for _ in range(repeats))
    return round(2 * size**3 / seconds / 1e9, 1)
