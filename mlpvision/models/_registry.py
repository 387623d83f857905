"""What is registered, read from the code: the family files, the names each registers, one rule for matching names.

A family is a module of ``mlpvision.models`` whose name does not start with ``_``; importing ``mlpvision.models``
imports each one, which registers its variants in timm's registry (``@register_model``). Nothing here is a hand-kept
list: a new family file is found, imported and listed by being there.
"""

import difflib
import fnmatch
import pkgutil
from pathlib import Path

import timm

# Every mlpvision entrypoint starts with this, so that registering ours never replaces a timm model.
PREFIX = "mlpv_"

FAMILIES: tuple[str, ...] = tuple(sorted(
    info.name for info in pkgutil.iter_modules([str(Path(__file__).parent)]) if not info.name.startswith("_")
))


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """The mlpvision names matching ``pattern``, sorted.

    A wildcard pattern is matched against the whole name and against the name without ``PREFIX``, so ``*_ccs``,
    ``*b16``, ``res*`` and ``mlpv_res*`` all mean what they say; a pattern without a wildcard is a word the
    names contain (``vip``). ``pretrained``: only names with released weights.
    """
    if not any(char in pattern for char in "*?["):
        pattern = f"*{pattern}*"
    return [
        name for name in timm.list_models(f"{PREFIX}*", pretrained=pretrained)
        if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name.removeprefix(PREFIX), pattern)
    ]


def family_of(name: str) -> str:
    """The family file that registers ``name`` (``"timm"`` for a timm model)."""
    return next((family for family in FAMILIES if name in timm.list_models(module=family)), "timm")


def check_model_name(name: str) -> None:
    """Raise ``ValueError`` naming the closest registered models when ``name`` (ours or timm's) is unknown."""
    if timm.is_model(name):
        return
    close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see `mlpvision models` or timm.list_models()"
    raise ValueError(f"unknown model {name!r}{hint}")
