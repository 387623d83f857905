"""RepMLP Block: RepMLPNet's token mixer, with Locality Injection (structural re-parameterisation)."""

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.fx
import torch.nn.functional as F
from timm.layers import register_notrace_function
from torch import nn

from .token_mixer import Grid, TokenMixer, resize_token_axis


class GlobalPerceptron(nn.Module):
    """A per-channel gate from the whole map: ``σ(FC2(ReLU(FC1(AvgPool(x)))))``, the FCs as 1×1 convs with bias.

    RepMLPNet, §4.1 and Fig. 1 ("Global Perceptron"); the hidden width is ``dim // reduction``.
    """

    def __init__(self, dim: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, dim // reduction, 1)
        self.fc2 = nn.Conv2d(dim // reduction, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(x, 1)
        return torch.sigmoid(self.fc2(F.relu(self.fc1(pooled))))


def _conv_bn(share_sets: int, kernel_size: int) -> nn.Sequential:
    """A Local Perceptron branch: a depthwise ``k×k`` conv over the ``s`` share-set maps (no bias), then BN."""
    conv = nn.Conv2d(share_sets, share_sets, kernel_size, padding=kernel_size // 2, groups=share_sets, bias=False)
    return nn.Sequential(OrderedDict(conv=conv, bn=nn.BatchNorm2d(share_sets)))


def fuse_batch_norm(weight: torch.Tensor, norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold an inference-mode BN into the linear map before it (RepMLPNet, Eq. 14).

    ``F'ᵢ = (γᵢ/σᵢ)·Fᵢ`` and ``b'ᵢ = βᵢ − μᵢγᵢ/σᵢ`` with ``σᵢ = sqrt(varᵢ + eps)``; row ``i`` of ``weight`` (its first
    axis) is the BN's channel ``i``.
    """
    scale = norm.weight / (norm.running_var + norm.eps).sqrt()
    return weight * scale.reshape(-1, *([1] * (weight.ndim - 1))), norm.bias - norm.running_mean * scale


@register_notrace_function  # timm's FX feature extraction
def check_map_size(x: torch.Tensor, grid_size: Grid) -> None:
    """Refuse a map of another size than FC3's; a leaf of traced graphs (``torch.fx.wrap``): it reads the shape."""
    if tuple(x.shape[-2:]) != tuple(grid_size):
        raise ValueError(f"RepMlp was built for {tuple(grid_size)} maps, got {tuple(x.shape[-2:])}")


torch.fx.wrap("check_map_size")


class RepMlp(TokenMixer, name="rep_mlp"):
    """RepMLP Block (RepMLPNet, §4.1, Fig. 1): ``GlobalPerceptron(x) ⊙ (ChannelPerceptron(x) + LocalPerceptron(x))``.

    The map ``(n, c, h, w)`` is split into ``c/s`` groups of ``s`` consecutive channels, ``(n·c/s, s, h, w)``, so
    channel ``i`` belongs to share-set ``i mod s``. Channel Perceptron (FC3 + BN): every group is flattened into a
    vector of length ``s·h·w`` and mapped by a set-sharing FC, implemented as the paper says by a 1×1 conv with
    ``s`` groups: one ``(hw × hw)`` matrix per share-set, ``s·(hw)²`` parameters, then BN over the ``s`` maps.
    Local Perceptron: depthwise ``k×k`` convs (``local_kernel_sizes``, padding ``k // 2``) + BN on the same
    ``(n·c/s, s, h, w)`` maps, added to FC3's output.

    ``reparameterize()`` performs Locality Injection (§3.2, §4.1) and leaves the inference form: FC3 with a bias,
    no BN, no convs (the Local Perceptron is an empty ``ModuleDict``). timm's ``reparameterize_model`` calls it.

    Input and output are NCHW maps ``[B, C, h, w]``. The official code partitions the input into ``h×w`` windows,
    but RepMLPNet sets ``h×w`` to each stage's full feature size (one window per map, as in the paper, whose Fig. 1
    has no partition), so here ``grid_size`` is the map's size and the input must have it.

    Args:
        dim: channels; a multiple of ``share_sets``.
        grid_size: the feature map's (rows, columns); FC3 maps ``h·w`` positions to ``h·w`` positions.
        share_sets: ``s``, the number of FC3 matrices (and of Local Perceptron channels).
        local_kernel_sizes: the Local Perceptron's conv kernel sizes (odd); empty for none.
        reduction: channel reduction inside the Global Perceptron.
    """

    layout = "NCHW"
    example_args = dict(share_sets=4)

    def __init__(
            self,
            dim: int,
            grid_size: Grid,
            share_sets: int,
            local_kernel_sizes: Sequence[int] = (1, 3),
            reduction: int = 4,
    ) -> None:
        super().__init__()
        if dim % share_sets:
            raise ValueError(f"channels ({dim}) must be a multiple of the share-sets ({share_sets})")
        if any(size % 2 == 0 for size in local_kernel_sizes):
            raise ValueError(f"local kernel sizes must be odd to keep the map's size, got {list(local_kernel_sizes)}")
        self.grid_size = tuple(grid_size)
        self.share_sets = share_sets
        width = share_sets * grid_size[0] * grid_size[1]
        self.global_perceptron = GlobalPerceptron(dim, reduction)
        self.fc3 = nn.Conv2d(width, width, 1, groups=share_sets, bias=False)
        self.fc3_norm: nn.Module = nn.BatchNorm2d(share_sets)
        self.local_perceptron = nn.ModuleDict(
            {f"conv{size}": _conv_bn(share_sets, size) for size in local_kernel_sizes}
        )

    @property
    def deployed(self) -> bool:
        """Whether ``reparameterize()`` has turned this block into its inference form."""
        return self.fc3.bias is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():  # a scripted model leaves the size error to the reshape
            check_map_size(x, self.grid_size)
        gate = self.global_perceptron(x)
        groups = x.reshape(-1, self.share_sets, self.grid_size[0], self.grid_size[1])  # (n·c/s, s, h, w)
        out = self.fc3(groups.reshape(groups.shape[0], -1, 1, 1)).reshape(groups.shape)
        out = self.fc3_norm(out)
        local = None
        for branch in self.local_perceptron.values():
            response = branch(groups)
            local = response if local is None else local + response
        if local is not None:
            out = out + local
        return out.reshape(x.shape) * gate

    def _conv_as_fc(self, kernel: torch.Tensor) -> torch.Tensor:
        """The FC3 matrices ``(s, hw_out, hw_in)`` computing a depthwise conv on this grid (RepMLPNet, Eq. 11–13).

        Convolving the identity, reshaped into ``hw`` one-hot maps per share-set (Eq. 12), gives each input
        position's response at every output position: column ``j`` of the equivalent FC kernel (Eq. 13).
        """
        tokens = self.grid_size[0] * self.grid_size[1]
        identity = torch.eye(tokens, dtype=kernel.dtype, device=kernel.device)
        one_hot_maps = identity.reshape(tokens, 1, *self.grid_size).expand(-1, self.share_sets, -1, -1)
        response = F.conv2d(one_hot_maps, kernel, padding=kernel.shape[-1] // 2, groups=self.share_sets)
        return response.reshape(tokens, self.share_sets, tokens).permute(1, 2, 0)

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Locality Injection: one FC3 with bias computing the inference-mode training form (RepMLPNet, §3.2, §4.1).

        BN is folded into FC3 and into every Local Perceptron conv (Eq. 14); each conv becomes its FC kernel
        (Eq. 13), added to FC3's (Eq. 5); the conv biases are repeated over the ``h·w`` positions. Uses the BN
        running statistics (call it on a model in eval mode); a deployed block is left as it is.
        """
        if self.deployed:
            return
        tokens = self.grid_size[0] * self.grid_size[1]
        weight, bias = fuse_batch_norm(self.fc3.weight.reshape(self.share_sets, tokens, tokens), self.fc3_norm)
        bias = bias.reshape(-1, 1).expand(-1, tokens)
        for branch in self.local_perceptron.values():
            kernel, kernel_bias = fuse_batch_norm(branch.conv.weight, branch.bn)
            weight = weight + self._conv_as_fc(kernel)
            bias = bias + kernel_bias.reshape(-1, 1)
        fc3 = nn.Conv2d(
            self.fc3.in_channels, self.fc3.out_channels, 1, groups=self.share_sets,
            device=weight.device, dtype=weight.dtype,
        )
        fc3.weight.copy_(weight.reshape(fc3.weight.shape))
        fc3.bias.copy_(bias.reshape(-1))
        self.fc3 = fc3
        self.fc3_norm = nn.Identity()
        self.local_perceptron = nn.ModuleDict()

    def token_count(self, state: dict[str, torch.Tensor]) -> int | None:
        return state["fc3.weight"].shape[1]

    def resample_state(
            self, state: dict[str, torch.Tensor], old_grid: Grid, new_grid: Grid
    ) -> dict[str, torch.Tensor]:
        """FC3's matrices (and bias, in the inference form) resized per share-set; BN and convs need nothing."""
        state = dict(state)
        old_tokens, new_tokens = old_grid[0] * old_grid[1], new_grid[0] * new_grid[1]
        weight = state["fc3.weight"].reshape(-1, old_tokens, old_tokens)  # (s, hw_out, hw_in)
        weight = resize_token_axis(weight, 2, old_grid, new_grid, summed=True)
        weight = resize_token_axis(weight, 1, old_grid, new_grid, summed=False)
        state["fc3.weight"] = weight.reshape(-1, new_tokens, 1, 1)
        if "fc3.bias" in state:
            bias = state["fc3.bias"].reshape(-1, old_tokens)
            state["fc3.bias"] = resize_token_axis(bias, 1, old_grid, new_grid, summed=False).reshape(-1)
        return state
