"""Reading, checking and writing model weights: safetensors, ``torch.load(weights_only=True)`` and JAX ``.npz``.

Nothing here unpickles arbitrary objects: ``torch.load`` runs with ``weights_only=True`` and allows one class
besides tensors and plain values, ``argparse.Namespace``, which the authors' training scripts store under
``args``; a yacs config (RepMLP's and AS-MLP's scripts store one under ``config``) is read by an unpickler that
builds only these (``_ConfigUnpickler``). A file that is not a readable checkpoint (empty, truncated, a web page,
a bad header, a pickled object) raises ``UnreadableCheckpointError`` with one line naming the file and what is
wrong with it. A checkpoint that does not fit the model raises ``CheckpointMismatchError`` listing the missing,
unexpected and mis-shaped keys: there is no silent partial load.
"""

import argparse
import collections
import dataclasses
import json
import logging
import math
import os
import pickle
import re
import struct
import tempfile
import types
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import nn

from ..layers.token_mixer import Grid

_logger = logging.getLogger(__name__)

StateDict = dict[str, torch.Tensor]
CheckpointFilter = Callable[[StateDict, nn.Module], StateDict]

# Keys under which training scripts nest the weights, tried in this order when the family names none: the
# non-EMA weights first, as every author's evaluation reads them except DynaMixer's (see each family's cfg).
_NESTED_KEYS = ("model", "state_dict", "state_dict_ema", "model_ema", "ema")
# What a checkpoint may hold besides tensors and plain values: the argparse.Namespace of the authors' arguments
# (deit, CycleMLP, SPACH main.py save ``'args': args``; timm's train.py, used by ViP and DynaMixer, too).
_ALLOWED_GLOBALS = [argparse.Namespace]
_ALLOWED = "argparse.Namespace and yacs configs"  # the latter read by _ConfigUnpickler, see YacsConfig


class CheckpointMismatchError(ValueError):
    """A checkpoint's tensors do not fit the model they are loaded into."""


class UnreadableCheckpointError(CheckpointMismatchError):
    """A file that is not a readable checkpoint: empty, truncated, a web page, a bad header, a pickled object."""


@dataclasses.dataclass(frozen=True)
class WeightInfo:
    """What a released weight is and how its authors evaluated it, beside its ``pretrained_cfg``.

    Attributes:
        weights_key: the key of a training checkpoint that the authors' evaluation reads (``None``: a bare state
            dict); a file nested otherwise falls back to the usual keys.
        weights_key_source: the line of the authors' code that decides it.
        preprocessing_source: the authors' evaluation transform that the cfg's crop and interpolation follow.
        top1: ImageNet-1k top-1 the source reports (``None``: none reported for this file).
        top1_source: where that figure is printed.
        top1_timm: timm's own measurement of the same file (``results/results-imagenet.csv``), if any.
        page: the page a person downloads the file from by hand.
    """

    weights_key: str | None = None
    weights_key_source: str = ""
    preprocessing_source: str = ""
    top1: float | None = None
    top1_source: str = ""
    top1_timm: float | None = None
    page: str = ""


WEIGHT_INFO: dict[str, WeightInfo] = {}
_INFO_FIELDS = tuple(field.name for field in dataclasses.fields(WeightInfo))


def rename_keys(
        state: StateDict, renames: Sequence[tuple[re.Pattern, str]], first_match: bool = False
) -> StateDict:
    """``state`` with every key rewritten by the ``(pattern, replacement)`` rules in order (``first_match``: only
    the first rule that matches); the tensors are unchanged. The converters of foreign checkpoint layouts use it."""
    out = {}
    for key, value in state.items():
        for pattern, replacement in renames:
            key, count = pattern.subn(replacement, key)
            if count and first_match:
                break
        out[key] = value
    return out


def register_weights(cfgs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Take the ``WeightInfo`` fields out of each ``name.tag`` cfg into ``WEIGHT_INFO``; return the plain cfgs.

    Family files write a weight's provenance, accuracy and evaluation references in its cfg dict, and pass the
    dicts through here on the way to ``generate_default_cfgs`` (timm's ``PretrainedCfg`` has no such fields).
    """
    plain = {}
    for name, cfg in cfgs.items():
        WEIGHT_INFO[name] = WeightInfo(**{key: cfg[key] for key in _INFO_FIELDS if key in cfg})
        plain[name] = {key: value for key, value in cfg.items() if key not in _INFO_FIELDS}
    return plain


def weight_info(model_or_name: nn.Module | str) -> WeightInfo | None:
    """The ``WeightInfo`` of ``"arch.tag"`` or of the ``pretrained_cfg`` a model was built with."""
    if isinstance(model_or_name, str):
        return WEIGHT_INFO.get(model_or_name)
    cfg = getattr(model_or_name, "pretrained_cfg", None) or {}
    return WEIGHT_INFO.get(f"{cfg.get('architecture')}.{cfg.get('tag')}")


def weights_key_of(model: nn.Module) -> str | None:
    """The training-checkpoint key the authors of ``model``'s family evaluate (``None``: not known)."""
    info = weight_info(model)
    return info.weights_key if info else None


# ---- recognising what a file is ----------------------------------------------------------------------------

_DRIVE_QUOTA = (b"Too many users have viewed or downloaded this file recently", b"Quota exceeded")
_DRIVE_CONFIRM = (b'id="download-form"', b"can't scan this file for viruses", b"Virus scan warning")


def describe_html(head: bytes) -> str:
    """What an HTML answer is: Google Drive's quota page, its download confirmation, or a page with a title."""
    for marker in _DRIVE_QUOTA:
        if marker in head:
            return f"Google Drive's quota page (\"{marker.decode()}\")"
    if any(marker in head for marker in _DRIVE_CONFIRM):
        return "Google Drive's download confirmation page"
    title = re.search(rb"<title>(.*?)</title>", head, re.IGNORECASE | re.DOTALL)
    named = f" titled \"{title.group(1).decode(errors='replace').strip()[:80]}\"" if title else ""
    return f"an HTML page{named}"


def is_html(head: bytes) -> bool:
    """Whether a file or response starting with ``head`` is a web page (or an XML error document)."""
    start = head.lstrip()[:512].lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")) or b"<html" in start


def _safetensors_problem(path: Path, size: int) -> str | None:
    if size < 8:
        return f"is truncated: {size} bytes, shorter than a safetensors header"
    with open(path, "rb") as handle:
        (header_size,) = struct.unpack("<Q", handle.read(8))
        if header_size > size - 8:
            return f"has a bad safetensors header: it declares {header_size:,} header bytes in a {size:,}-byte file"
        try:
            header = json.loads(handle.read(header_size))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return "has a bad safetensors header: not JSON"
    if not isinstance(header, dict):
        return "has a bad safetensors header: not a JSON object"
    ends = [entry["data_offsets"][1] for key, entry in header.items()
            if key != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry]
    expected = 8 + header_size + max(ends, default=0)
    if size < expected:
        return f"is truncated: {size:,} of its {expected:,} bytes"
    return None


def checkpoint_problem(path: str | os.PathLike, thorough: bool = False, kind: str | None = None) -> str | None:
    """What is wrong with ``path`` as a checkpoint of its ``kind`` (a suffix; default the file's), or ``None``.

    The checks read headers only (a safetensors header against the file size, a zip archive's central
    directory), and with ``thorough`` every zip member's CRC too, as after a download. A legacy (non-zip)
    ``torch.save`` pickle passes: only reading it can tell.
    """
    path = Path(path)
    kind = kind or path.suffix
    size = path.stat().st_size
    if size == 0:
        return "is empty (0 bytes)"
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if is_html(head):
        return f"is {describe_html(_page_text(path))}, not a checkpoint"
    if kind == ".safetensors":
        return _safetensors_problem(path, size)
    if head.startswith(b"PK\x03\x04"):
        if not zipfile.is_zipfile(path):
            return f"is truncated: a zip archive of {size:,} bytes without its central directory"
        if thorough:
            with zipfile.ZipFile(path) as archive:
                try:
                    broken = archive.testzip()
                except (zipfile.BadZipFile, EOFError, OSError) as error:
                    return f"is a damaged zip archive ({error})"
            if broken is not None:
                return f"is a damaged zip archive (member {broken} fails its CRC)"
        return None
    if kind == ".npz":
        return "is not a .npz archive (no zip signature)"
    if head[:1] == b"\x80":
        return None  # a legacy torch.save pickle
    return f"is not a PyTorch checkpoint (it starts with {head[:16]!r})"


def _page_text(path: Path) -> bytes:
    """The first 256 KiB of an HTML answer: Drive's quota and confirmation markers sit past the first 4 KiB."""
    with open(path, "rb") as handle:
        return handle.read(256 * 1024)


def _unreadable(path: Path, error: BaseException, kind: str) -> UnreadableCheckpointError:
    """The one-line error for ``path`` that ``kind``'s reader refused with ``error``."""
    problem = checkpoint_problem(path)
    if problem:
        return UnreadableCheckpointError(f"{path} {problem}")
    text = str(error)
    refused = re.search(r"GLOBAL ([\w.]+)", text)
    if refused:
        return UnreadableCheckpointError(
            f"{path} holds a pickled {refused.group(1)} object, which is refused because unpickling it could run "
            f"code (a checkpoint may hold tensors, plain values, {_ALLOWED})"
        )
    if "allow_pickle" in text:
        what = "object arrays" if "Object arrays" in text else "pickled data"
        return UnreadableCheckpointError(
            f"{path} holds {what}, which numpy would have to unpickle: refused because unpickling could run code "
            f"(an .npz checkpoint holds numeric arrays only)"
        )
    if "Weights only load failed" in text:
        # torch's text around the cause advises weights_only=False, which would run whatever the file holds
        advice = ("weights_only", "Weights only", "trusted source", "documentation of torch.load", "file an issue")
        causes = [line.strip() for line in text.splitlines() if line.strip() and not any(a in line for a in advice)]
        cause = f" ({causes[0]})" if causes else ""
        return UnreadableCheckpointError(
            f"{path} holds pickled data that the safe loader refuses{cause}; a checkpoint may hold tensors, plain "
            f"values, {_ALLOWED}"
        )
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
    return UnreadableCheckpointError(f"{path} cannot be read as {kind}: {first_line}")


class YacsConfig(dict):
    """What a pickled yacs ``CfgNode`` becomes here: its keys and values in a plain ``dict`` subclass.

    The Swin-descended training scripts (RepMLP utils.py:65-70 and :82-87, AS-MLP utils.py:41-46) save
    their yacs ``config`` beside the weights. ``torch.load(weights_only=True)`` cannot build a ``dict`` subclass, so
    such a file is read by ``_ConfigUnpickler``, which maps ``yacs.config.CfgNode`` to this class and nothing of
    yacs is imported or run.
    """

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)  # yacs's flags (__immutable__, __new_allowed__, ...) as plain attributes


class _ConfigUnpickler(pickle.Unpickler):
    """An unpickler that builds tensors, plain containers, ``argparse.Namespace`` and yacs configs, and refuses
    every other global: a pickle can only call what ``find_class`` hands it, so nothing in the file runs code.

    torch.load wraps it: storages are resolved by torch before ``find_class``, tensors by ``persistent_load``.
    """

    _GLOBALS: dict[tuple[str, str], Any] = {
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("argparse", "Namespace"): argparse.Namespace,
        ("builtins", "set"): set, ("__builtin__", "set"): set,
        ("builtins", "frozenset"): frozenset, ("__builtin__", "frozenset"): frozenset,
        ("yacs.config", "CfgNode"): YacsConfig,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._GLOBALS[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"GLOBAL {module}.{name} is not allowed") from None


def _torch_load(path: Path) -> Any:
    """``torch.load(weights_only=True)`` allowing ``argparse.Namespace`` besides tensors and plain values; a file
    that holds a yacs config (which the safe loader cannot build) is read again by ``_ConfigUnpickler``."""
    try:
        if hasattr(torch.serialization, "safe_globals"):  # torch >= 2.5: scoped to this call
            with torch.serialization.safe_globals(_ALLOWED_GLOBALS):
                return torch.load(path, map_location="cpu", weights_only=True)
        torch.serialization.add_safe_globals(_ALLOWED_GLOBALS)  # torch 2.4: process-wide, the same single class
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "yacs.config.CfgNode" not in str(error):
            raise
    restricted = types.SimpleNamespace(__name__="mlpvision_restricted_pickle", Unpickler=_ConfigUnpickler,
                                       load=lambda file, **kwargs: _ConfigUnpickler(file, **kwargs).load())
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=restricted)


def _unnest(loaded: Any, path: Path, weights_key: str | None) -> Mapping:
    """The weights of a training checkpoint: under ``weights_key`` when present, else the first usual key."""
    if isinstance(loaded, Mapping):
        keys = ((weights_key,) if weights_key else ()) + _NESTED_KEYS
        for key in keys:
            if isinstance(loaded.get(key), Mapping):
                return loaded[key]
        return loaded
    raise UnreadableCheckpointError(f"{path} holds a {type(loaded).__name__}, not a state dict")


def read_checkpoint(path: str | os.PathLike, weights_key: str | None = None) -> tuple[StateDict, dict[str, str]]:
    """Read a checkpoint's tensors and metadata without executing code.

    ``.safetensors`` files keep their metadata; ``.npz`` files (JAX/Flax exports) become tensors under their
    '/'-joined names; anything else goes through ``torch.load(weights_only=True)`` (``argparse.Namespace``
    allowed), and the weights of a training checkpoint are taken from ``weights_key`` (the key the authors'
    evaluation reads; see ``weights_key_of``) or else from ``model``, ``state_dict``, ``state_dict_ema``,
    ``model_ema`` or ``ema``, in that order. A ``module.`` prefix left by DataParallel/DDP is removed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    metadata: dict[str, str] = {}
    if path.suffix == ".safetensors":
        problem = checkpoint_problem(path)
        if problem:
            raise UnreadableCheckpointError(f"{path} {problem}")
        try:
            with safetensors.safe_open(str(path), framework="pt") as handle:
                metadata = dict(handle.metadata() or {})
                state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (no iter)
        except Exception as error:  # safetensors raises its own SafetensorError and OSError
            raise _unreadable(path, error, "safetensors") from error
    elif path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as arrays:
                state = {key: torch.from_numpy(np.array(arrays[key])) for key in arrays.files}
        except Exception as error:  # numpy raises ValueError, OSError, zipfile.BadZipFile, EOFError
            raise _unreadable(path, error, "an .npz archive") from error
    else:
        try:
            loaded = _torch_load(path)
        except Exception as error:  # torch raises several types for foreign or corrupt files
            raise _unreadable(path, error, "a PyTorch checkpoint") from error
        loaded = _unnest(loaded, path, weights_key)
        state = {key: value for key, value in loaded.items() if isinstance(value, torch.Tensor)}
    if state and all(key.startswith("module.") for key in state):
        state = {key.removeprefix("module."): value for key, value in state.items()}
    return state, metadata


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a ``.safetensors`` file (empty for other files), without reading its tensors."""
    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        return {}
    problem = checkpoint_problem(path)
    if problem:
        raise UnreadableCheckpointError(f"{path} {problem}")
    try:
        with safetensors.safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception as error:  # safetensors' own SafetensorError
        raise _unreadable(path, error, "safetensors") from error


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
