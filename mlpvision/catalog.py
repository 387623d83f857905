"""The model table: every registered name with its paper, measured size and cost, built from the registry."""

import dataclasses

import timm
import torch

from .complexity import count_gmacs, count_parameters
from .models import family_of, list_models


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


def model_rows(pattern: str = "*") -> list[ModelRow]:
    """Rows for every mlpvision name matching ``pattern`` (``list_models``' rule); sizes counted on the meta device
    (no memory, no time)."""
    rows = []
    for name in list_models(pattern):
        with torch.device("meta"):
            model = timm.create_model(name)
        cfg = model.pretrained_cfg
        size = cfg["input_size"][-1]
        tags = tuple(tag.split(".", 1)[1] for tag in timm.list_pretrained(f"{name}.*"))
        rows.append(ModelRow(
            name=name, family=family_of(name), paper=cfg["paper_name"], arxiv=cfg["paper_ids"].removeprefix("arXiv:"),
            params=count_parameters(model), gmacs=round(count_gmacs(model, cfg["input_size"]), 3), img_size=size,
            count_source=cfg["notes"][0].removeprefix("parameter count source: "), pretrained_tags=tags,
        ))
    return rows


def markdown_table(rows: list[ModelRow]) -> str:
    """The README's model table."""
    lines = [
        "| name | paper | params | GMACs | img size | weights | where the count comes from |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        weights = ", ".join(tag for tag in row.pretrained_tags if tag != "untrained") or "–"
        lines.append(
            f"| `{row.name}` | [{row.paper}](https://arxiv.org/abs/{row.arxiv}) | {row.params:,} | {row.gmacs:.3f} "
            f"| {row.img_size} | {weights} | {row.count_source} |"
        )
    return "\n".join(lines) + "\n"
