"""The one call into timm's ``build_model_with_cfg`` and the ``pretrained_cfg`` defaults."""

import inspect
from typing import Any

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import build_model_with_cfg

from ._backbone import MlpBackbone
from ._download import pretrained_overlay
from ._registry import PREFIX

INCEPTION_MEAN_STD = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
IMAGENET_MEAN_STD = dict(mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD)


def model_cfg(
        *,
        paper_name: str,
        arxiv: str,
        code_url: str,
        license: str,
        count_source: str,
        mean_std: dict[str, tuple[float, float, float]],
        crop_pct: float = 0.875,
        interpolation: str = "bicubic",
        input_size: tuple[int, int, int] = (3, 224, 224),
        feature_stride: int | None = None,
        **kwargs: Any,
) -> dict[str, Any]:
    """A ``pretrained_cfg`` dict: pre-processing, classifier, paper and code links, licence, weight location.

    ``custom_load="hf"`` routes every weight source (hub, URL, ``file=``) through the model's
    ``load_pretrained``, which reads every checkpoint layout we support. Weights on the hub are named by
    ``hf_hub_id`` (a full ``org/name.tag`` id) and ``hf_hub_filename``. ``feature_stride``, the total downsampling,
    gives ``pool_size``: the grid of ``forward_features`` at ``input_size`` (timm's test suite checks it).
    """
    pool_size = None if feature_stride is None else (input_size[1] // feature_stride, input_size[2] // feature_stride)
    cfg = dict(
        url="", num_classes=1000, input_size=input_size, pool_size=pool_size, crop_pct=crop_pct,
        interpolation=interpolation, fixed_input_size=True, first_conv="stem.proj", classifier="head",
        license=license, paper_name=paper_name, paper_ids=f"arXiv:{arxiv}", origin_url=code_url,
        notes=(f"parameter count source: {count_source}",), custom_load="hf", hf_hub_filename="model.safetensors",
        **mean_std,
    )
    return {**cfg, **kwargs}


# keywords that timm's create_model / build_model_with_cfg read themselves
_TIMM_KEYWORDS = {"pretrained_cfg", "pretrained_cfg_overlay", "pretrained_strict", "cache_dir", "features_only",
                  "feature_cls", "feature_cfg", "flatten_sequential", "out_indices", "output_fmt"}


def _keywords(model_cls: type) -> list[str]:
    """The keywords ``model_cls`` takes, its parents' included where it passes ``**kwargs`` on."""
    names: list[str] = []
    for cls in model_cls.__mro__:
        if "__init__" not in vars(cls):
            continue
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        names += [p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name not in names]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names


def build_model(
        model_cls: type[MlpBackbone],
        variant: str,
        pretrained: bool,
        default_out_indices: int | tuple[int, ...] = 3,
        **kwargs: Any,
) -> MlpBackbone:
    """Build ``variant`` through timm (pretrained_cfg, weights, ``features_only``) with the family's filter.

    A keyword the family's class does not take is refused with the reason, rather than reaching some layer:
    the structure a family builds is the paper's, and only its hyper-parameters are keywords.
    ``features_only=True`` returns the feature maps at ``out_indices`` (default ``default_out_indices``: the last
    three blocks of an isotropic model, every stage of a multi-stage one).
    """
    if not variant.startswith(PREFIX):
        raise ValueError(f"mlpvision model names start with {PREFIX!r}: {variant!r}")
    accepted = _keywords(model_cls)
    unknown = sorted(key for key in kwargs if key not in accepted and key not in _TIMM_KEYWORDS)
    if unknown:
        raise ValueError(
            f"{variant} takes no {', '.join(map(repr, unknown))}: {model_cls.__name__} builds the paper's structure, "
            f"and its keywords are {', '.join(accepted)}"
        )
    out_indices = kwargs.pop("out_indices", default_out_indices)
    if pretrained:
        # fetched and checked here (see _download), so that timm only ever loads a local file
        kwargs["pretrained_cfg_overlay"] = pretrained_overlay(
            variant, kwargs.get("pretrained_cfg"), kwargs.get("pretrained_cfg_overlay"))
    if kwargs.get("pretrained_cfg_overlay"):
        # timm resets custom_load when an overlay names a weight source (file=, url=); ours reads every layout
        # (our safetensors, timm's, the authors' .pth and .npz) with strict checks, so it stays in charge.
        kwargs["pretrained_cfg_overlay"] = {"custom_load": "hf", **kwargs["pretrained_cfg_overlay"]}
    return build_model_with_cfg(
        model_cls,
        variant,
        pretrained,
        pretrained_filter_fn=model_cls.checkpoint_filter,
        feature_cfg=dict(out_indices=out_indices, feature_cls="getter"),
        **kwargs,
    )
