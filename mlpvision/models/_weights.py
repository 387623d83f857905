"""Reading, checking and writing model weights: safetensors, ``torch.load(weights_only=True)`` and JAX ``.npz``.

Nothing here unpickles arbitrary objects. A checkpoint that does not fit the model raises
``CheckpointMismatchError`` listing the missing, unexpected and mis-shaped keys: there is no silent partial load.
"""

import logging
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from torch import nn

from ..layers.token_mixer import Grid

_logger = logging.getLogger(__name__)

StateDict = dict[str, torch.Tensor]
CheckpointFilter = Callable[[StateDict, nn.Module], StateDict]

# keys under which training scripts nest the weights, in the order they are preferred (EMA weights first, as timm)
_NESTED_KEYS = ("state_dict_ema", "model_ema", "state_dict", "model")


class CheckpointMismatchError(ValueError):
    """A checkpoint's tensors do not fit the model they are loaded into."""


def read_checkpoint(path: str | os.PathLike) -> tuple[StateDict, dict[str, str]]:
    """Read a checkpoint's tensors and metadata without executing code.

    ``.safetensors`` files keep their metadata; ``.npz`` files (JAX/Flax exports) become tensors under their
    '/'-joined names; anything else goes through ``torch.load(weights_only=True)``, and weights nested under
    ``state_dict_ema``, ``model_ema``, ``state_dict`` or ``model`` are unwrapped. A ``module.`` prefix left by
    DataParallel/DDP is removed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    metadata: dict[str, str] = {}
    if path.suffix == ".safetensors":
        with safetensors.safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (safe_open has no iter)
    elif path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            state = {key: torch.from_numpy(np.array(arrays[key])) for key in arrays.files}
    else:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises several types for foreign or corrupt files
            raise CheckpointMismatchError(f"cannot read {path} as a PyTorch checkpoint: {error}") from error
        for key in _NESTED_KEYS:
            if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
        if not isinstance(loaded, Mapping):
            raise CheckpointMismatchError(f"{path} holds a {type(loaded).__name__}, not a state dict")
        state = {key: value for key, value in loaded.items() if isinstance(value, torch.Tensor)}
    if state and all(key.startswith("module.") for key in state):
        state = {key.removeprefix("module."): value for key, value in state.items()}
    return state, metadata


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a ``.safetensors`` file (empty for other files), without reading its tensors."""
    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        return {}
    with safetensors.safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})


def save_weights(model: nn.Module, path: str | os.PathLike, metadata: Mapping[str, str] | None = None) -> None:
    """Write a model's weights as safetensors, atomically (temporary file, fsync, rename).

    The metadata records the architecture and input size, which ``load_pretrained`` checks.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {key: str(value) for key, value in (metadata or {}).items()}
    cfg = getattr(model, "pretrained_cfg", None) or {}
    if cfg.get("architecture"):
        info.setdefault("architecture", cfg["architecture"])
    if getattr(model, "img_size", None) is not None:
        info.setdefault("img_size", "x".join(str(side) for side in model.img_size))
    tensors = {key: value.detach().contiguous() for key, value in model.state_dict().items()}
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        safetensors.torch.save_file(tensors, tmp_name, metadata=info)
        with open(tmp_name, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def check_architecture(metadata: Mapping[str, str], model: nn.Module, source: str) -> None:
    """Refuse a checkpoint whose metadata names another architecture than the model's."""
    ours = (getattr(model, "pretrained_cfg", None) or {}).get("architecture")
    theirs = metadata.get("architecture")
    if ours and theirs and ours != theirs:
        raise CheckpointMismatchError(
            f"{source} holds weights of {theirs}, not {ours}: build the model with "
            f"timm.create_model('{theirs}') or convert the checkpoint with `mlpvision convert`"
        )


def _square_grid(tokens: int, source: str) -> Grid:
    side = math.isqrt(tokens)
    if side * side != tokens:
        raise CheckpointMismatchError(
            f"{source} was made for {tokens} tokens, which is not a square grid; say its size with "
            f"an img_size in the checkpoint's metadata"
        )
    return side, side


def resample_token_mixers(
        model: nn.Module, state: StateDict, source: str, source_img_size: Grid | None = None
) -> StateDict:
    """Resize the grid-sized weights of every token mixer in ``state`` to the model's grid.

    Each mixer (any module with ``resample_state`` and ``token_count``, outermost first) converts its own
    weights. The checkpoint's grid at that mixer is derived from ``source_img_size`` when known (our metadata:
    the mixer's grid scaled by the ratio of image sizes) or else the square root of the token count its weights
    were made for. Weights already at the model's size pass unchanged.
    """
    state = dict(state)
    handled: list[str] = []
    for name, module in model.named_modules():
        if not hasattr(module, "resample_state") or any(name.startswith(done + ".") for done in handled):
            continue
        handled.append(name)
        grid = getattr(module, "grid_size", None)
        prefix = f"{name}." if name else ""
        own = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
        if grid is None or not own:
            continue
        try:
            tokens = module.token_count(own)
        except KeyError:
            continue  # incomplete: the strict load reports the missing keys
        if tokens is None or tokens == grid[0] * grid[1]:
            continue
        source_grid = None
        if source_img_size is not None and getattr(model, "img_size", None) is not None:
            strides = (model.img_size[0] // grid[0], model.img_size[1] // grid[1])
            source_grid = (source_img_size[0] // strides[0], source_img_size[1] // strides[1])
        old_grid = source_grid if source_grid and source_grid[0] * source_grid[1] == tokens else None
        old_grid = old_grid or _square_grid(tokens, source)
        for key, value in module.resample_state(own, old_grid, grid).items():
            state[prefix + key] = value
    return state


def load_checked(model: nn.Module, state: StateDict, source: str) -> None:
    """Load ``state`` strictly, or raise one error naming every missing, unexpected and mis-shaped key.

    The classifier is the one exception, as in timm: when its shape differs because the model was built for
    another number of classes, it keeps its initialisation and a warning says so.
    """
    expected = model.state_dict()
    head = getattr(model, "pretrained_cfg", {}).get("classifier", "head")
    for key in (f"{head}.weight", f"{head}.bias"):
        if key in state and key in expected and state[key].shape != expected[key].shape:
            _logger.warning(
                "%s: classifier %s not loaded (checkpoint %s, model %s); it keeps its initialisation",
                source, key, tuple(state[key].shape), tuple(expected[key].shape),
            )
            state = {k: v for k, v in state.items() if k != key}
            expected = {k: v for k, v in expected.items() if k != key}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = sorted(
        f"{key}: checkpoint {tuple(state[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in set(state) & set(expected)
        if state[key].shape != expected[key].shape
    )
    if missing or unexpected or misshaped:
        architecture = getattr(model, "pretrained_cfg", {}).get("architecture", type(model).__name__)
        lines = [f"{source} does not fit {architecture}:"]
        for title, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
            if keys:
                shown = ", ".join(keys[:12]) + (f", ... ({len(keys)} in all)" if len(keys) > 12 else "")
                lines.append(f"  {title} keys: {shown}")
        raise CheckpointMismatchError("\n".join(lines))
    model.load_state_dict(state, strict=False)
