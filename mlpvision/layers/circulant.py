"""CCS: circulant channel-specific token mixing, by FFT or by a dense circulant matrix."""

import math
from typing import Literal

import torch
import torch.fx
from timm.layers import register_notrace_function
from torch import nn

from .token_mixer import Grid, TokenMixer, resize_token_axis

CirculantImpl = Literal["auto", "fft", "dense"]

# Below this many tokens the dense circulant matmul is used, from this many on the FFT: on a CPU (fp32, C=768,
# G=8) the forward passes cost the same at N=64 and the FFT wins from N=100 on. `mlpvision bench --sweep tokens`
# measures the crossing on any machine (results/sweep-tokens-*.csv, in docs/benchmarks.md); on CUDA the threshold
# is the CPU's until measured there.
DENSE_BELOW_TOKENS = 100


def circulant_matrix(weight: torch.Tensor) -> torch.Tensor:
    """The (G, N, N) circulant matrices of a (G, N) weight: ``M[g, i, m] = w[g, (m - i) mod N]`` (CCS Eq. 5, 7)."""
    tokens = weight.shape[-1]
    position = torch.arange(tokens, device=weight.device)
    return weight[:, (position[None, :] - position[:, None]) % tokens]


def circulant_mix_dense(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """CCS Eq. 7 on (B, N, C) tokens by one batched matmul per channel group (channel c uses group c mod G)."""
    batch, tokens, channels = x.shape
    groups = weight.shape[0]
    grouped = x.reshape(batch, tokens, channels // groups, groups).permute(3, 1, 0, 2)
    grouped = grouped.reshape(groups, tokens, batch * channels // groups)
    mixed = torch.bmm(circulant_matrix(weight).to(x.dtype), grouped)
    return mixed.reshape(groups, tokens, batch, channels // groups).permute(2, 1, 3, 0).reshape(x.shape)


@register_notrace_function  # timm's FX feature extraction
def circulant_mix_fft(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """CCS Eq. 8 on (B, N, C) tokens: ``irfft(rfft(x) · conj(rfft(w)))`` along the tokens (channel c → group c mod G).

    The conjugate makes the product a circular correlation, ``y_i = Σ_j w_j x_{(i+j) mod N}`` (Eq. 7), which is
    what the paper's ``FFT(IFFT(x) ⊙ FFT(w))`` computes. Half-precision inputs are transformed in float32:
    half-precision FFTs need power-of-two lengths (N = 196 is not), and the result is cast back.
    """
    channels = x.shape[-1]
    groups = weight.shape[0]
    compute_dtype = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    spectrum = torch.fft.rfft(x.to(compute_dtype), dim=1)
    kernel = torch.fft.rfft(weight.to(compute_dtype), dim=1).conj()  # [G, N//2 + 1]
    kernel = kernel.t().repeat(1, channels // groups)  # [N//2 + 1, C]: column c holds group c mod G
    return torch.fft.irfft(spectrum * kernel, n=x.shape[1], dim=1).to(x.dtype)


torch.fx.wrap("circulant_mix_fft")  # a leaf of traced graphs: it picks its compute dtype from the input's


class CirculantChannelSpecific(TokenMixer, name="circulant"):
    """Circulant channel-specific (CCS) token mixing: ``ū_i = Σ_j w_j û_{(i+j) mod N}``, one ``w`` per channel group.

    CCS paper, Eq. 5–8 and Alg. 1: the token-mixing matrix is circulant (fixed by one vector of N weights, so it is
    spatial-agnostic over the raster-order token index), and the C channels are split into G groups with one such
    vector each: G·N parameters, no bias. Channel ``c`` belongs to group ``c mod G`` (interleaved), which is what
    Alg. 1's ``expand(B, N, C//G, G).reshape(B, N, C)`` does once its shape bug (``fft(w)`` must be (N, G)) is fixed.
    The initialisation is Alg. 1's ``nn.Linear(N, G).weight``: uniform in ±1/√N.

    Args:
        dim: channels C; must be divisible by ``groups``.
        grid_size: token rows and columns; N is their product.
        groups: G, the number of circulant vectors (paper default 8; any divisor of C).
        impl: ``"fft"`` (Eq. 8), ``"dense"`` (Eq. 7 as a materialised matrix) or ``"auto"``: dense below
            ``DENSE_BELOW_TOKENS`` tokens, FFT from there on (the threshold was measured; see its comment).
    """

    impls = ("auto", "fft", "dense")
    export_impl = "dense"  # ONNX has no complex FFT
    example_args = dict(groups=4)

    def __init__(self, dim: int, grid_size: Grid, groups: int = 8, impl: CirculantImpl = "auto") -> None:
        super().__init__()
        if groups < 1 or dim % groups:
            raise ValueError(f"CCS groups must divide the channels: {groups} does not divide {dim}")
        if impl not in ("auto", "fft", "dense"):
            raise ValueError(f"CCS impl must be 'auto', 'fft' or 'dense', got {impl!r}")
        tokens = grid_size[0] * grid_size[1]
        self.grid_size = tuple(grid_size)
        self.groups = groups
        self.impl: CirculantImpl = impl
        self.dense_below_tokens = DENSE_BELOW_TOKENS  # an attribute: TorchScript reads no module globals
        self.weight = nn.Parameter(torch.empty(groups, tokens))
        bound = 1 / math.sqrt(tokens)
        nn.init.uniform_(self.weight, -bound, bound)

    def resolved_impl(self, tokens: int) -> str:
        """The implementation ``forward`` uses for this many tokens."""
        if self.impl != "auto":
            return self.impl
        return "dense" if tokens < self.dense_below_tokens else "fft"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        tokens = x.reshape(shape[0], -1, shape[-1])
        # the token count from the grid, a constant: a traced graph (torch.fx) keeps the choice made here
        if self.resolved_impl(self.grid_size[0] * self.grid_size[1]) == "dense":
            return circulant_mix_dense(tokens, self.weight).reshape(shape)
        return circulant_mix_fft(tokens, self.weight).reshape(shape)

    def token_count(self, state: dict[str, torch.Tensor]) -> int | None:
        return state["weight"].shape[1]

    def token_filters(self) -> tuple[torch.Tensor, str]:
        return self.weight.reshape(-1, *self.grid_size), "circulant groups (weight j at raster offset j)"

    def resample_state(
            self, state: dict[str, torch.Tensor], old_grid: Grid, new_grid: Grid
    ) -> dict[str, torch.Tensor]:
        """The circulant vector is resized as an H x W map of offsets (like GFNet's global filters)."""
        return {"weight": resize_token_axis(state["weight"], 1, old_grid, new_grid, summed=True)}
