"""The model and weight tables, built from the registry: every name with its paper, measured size and cost; every
released weight with its source, file, licence, preprocessing and the top-1 its source reports."""

import dataclasses

import timm
import torch

from .complexity import count_gmacs, count_parameters
from .models import family_of, list_models
from .models._weights import weight_info


@dataclasses.dataclass(frozen=True)
class ModelRow:
    name: str
    family: str
    paper: str
    arxiv: str
    params: int
    gmacs: float
    img_size: int
    count_source: str
    pretrained_tags: tuple[str, ...]
    top1: tuple[float | None, ...]  # the top-1 each tag's source reports, beside pretrained_tags


def released_tags(name: str) -> list[str]:
    """``name``'s tags with a released file: one ``pretrained=True`` downloads, or one released where only a person
    can fetch it (its ``page``; an ``.untrained`` tag has no file, whatever page it cites)."""
    tags = []
    for tag, cfg in sorted(timm.models.get_arch_pretrained_cfgs(name).items()):
        info = weight_info(tag)
        if cfg.has_weights or (info and info.page and not tag.endswith(".untrained")):
            tags.append(tag)
    return tags


def model_rows(pattern: str = "*") -> list[ModelRow]:
    """Rows for every mlpvision name matching ``pattern`` (``list_models``' rule); sizes counted on the meta device
    (no memory, no time)."""
    rows = []
    for name in list_models(pattern):
        with torch.device("meta"):
            model = timm.create_model(name)
        cfg = model.pretrained_cfg
        size = cfg["input_size"][-1]
        tagged = released_tags(name)
        tags = tuple(tag.split(".", 1)[1] for tag in tagged)
        infos = [weight_info(tag) for tag in tagged]
        rows.append(ModelRow(
            name=name, family=family_of(name), paper=cfg["paper_name"], arxiv=cfg["paper_ids"].removeprefix("arXiv:"),
            params=count_parameters(model), gmacs=round(count_gmacs(model, cfg["input_size"]), 3), img_size=size,
            count_source=cfg["notes"][0].removeprefix("parameter count source: "), pretrained_tags=tags,
            top1=tuple(info.top1 if info else None for info in infos),
        ))
    return rows


def markdown_table(rows: list[ModelRow]) -> str:
    """The README's model table."""
    lines = [
        "| name | paper | params | GMACs | img size | weights (reported top-1) | where the count comes from |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        weights = ", ".join(
            f"{tag} {top1 if top1 is not None else '–'}"
            for tag, top1 in zip(row.pretrained_tags, row.top1, strict=True) if tag != "untrained"
        ) or "–"
        lines.append(
            f"| `{row.name}` | [{row.paper}](https://arxiv.org/abs/{row.arxiv}) | {row.params:,} | {row.gmacs:.3f} "
            f"| {row.img_size} | {weights} | {row.count_source} |"
        )
    return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True)
class WeightRow:
    """One released weight: where it comes from and how its authors evaluated it (``WeightInfo`` + cfg)."""

    tag: str
    source: str
    file: str
    license: str
    preprocessing: str
    top1: float | None
    top1_source: str
    top1_timm: float | None
    weights_key: str | None
    weights_key_source: str
    preprocessing_source: str
    page: str
    num_classes: int


def _source(cfg) -> tuple[str, str]:
    """The address ``pretrained=True`` fetches first (the hub when named, as timm) and the file name it keeps."""
    url, filename = cfg.url if isinstance(cfg.url, tuple | list) else (cfg.url, (cfg.url or "").rsplit("/", 1)[-1])
    if cfg.hf_hub_id:
        hub = f"hf-hub:{cfg.hf_hub_id}/{cfg.hf_hub_filename or 'model.safetensors'}"
        return (f"{hub} (else {url})" if url else hub), cfg.hf_hub_filename or "model.safetensors"
    return url, filename


_NORMALISATION = {
    ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)): "ImageNet mean/std",
    ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)): "mean/std 0.5",
    ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)): "mean 0, std 1",
}


def preprocessing(cfg) -> str:
    """The evaluation transform a cfg asks for, in words: size, crop, interpolation, normalisation."""
    _, height, width = cfg.input_size
    if cfg.crop_mode == "squash":
        crop = "resized to size (no crop)"
    else:
        crop = "no crop" if cfg.crop_pct == 1.0 else f"crop {cfg.crop_pct:g}"
    key = (tuple(round(v, 3) for v in cfg.mean), tuple(round(v, 3) for v in cfg.std))
    norm = _NORMALISATION.get(key, f"mean {key[0]} std {key[1]}")
    return f"{height}x{width}, {crop}, {cfg.interpolation}, {norm}"


def weight_rows(pattern: str = "*") -> list[WeightRow]:
    """Rows for every released weight of the mlpvision names matching ``pattern`` (``list_models``' rule;
    ``.untrained`` tags skipped)."""
    rows = []
    for tag in (tag for name in list_models(pattern) for tag in released_tags(name)):
        cfg = timm.models.get_pretrained_cfg(tag)
        info = weight_info(tag)
        source, file = _source(cfg) if cfg.has_weights else (f"{info.page} (by hand)", "–")
        rows.append(WeightRow(
            tag=tag, source=source, file=file, license=cfg.license or "", preprocessing=preprocessing(cfg),
            top1=info.top1 if info else None, top1_source=info.top1_source if info else "",
            top1_timm=info.top1_timm if info else None, weights_key=info.weights_key if info else None,
            weights_key_source=info.weights_key_source if info else "",
            preprocessing_source=info.preprocessing_source if info else "", page=info.page if info else "",
            num_classes=cfg.num_classes,
        ))
    return rows


def weights_markdown(rows: list[WeightRow]) -> str:
    """The README's weights table."""
    lines = [
        "| weight | reported top-1 | timm's top-1 | preprocessing | licence | file | source |",
        "|---|---:|---:|---|---|---|---|",
    ]
    for row in rows:
        top1 = f"{row.top1}" if row.top1 is not None else "–"
        timm_top1 = f"{row.top1_timm}" if row.top1_timm is not None else "–"
        lines.append(f"| `{row.tag}` | {top1} | {timm_top1} | {row.preprocessing} | {row.license} | {row.file} "
                     f"| {row.source} |")
    return "\n".join(lines) + "\n"
