"""Hugging Face datasets saved on disk (``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``), read through the
``datasets`` library: memory-mapped Arrow tables, so opening one costs nothing whatever its size, and images are
decoded (and checked) only when a loader reads them."""

import io
from pathlib import Path

from torch.utils.data import Dataset

from .folder import read_image

VAL_NAMES = ("validation", "val", "valid")


def is_saved_dataset(root: Path) -> bool:
    """Whether ``root`` is a folder written by ``save_to_disk`` (a dataset dict, or one dataset)."""
    return (root / "dataset_dict.json").is_file() or (root / "state.json").is_file()


class HFImages(Dataset):
    """(RGB image, label) from one split of a saved dataset: its first ``Image`` column and its first
    ``ClassLabel`` column. A row that does not decode raises ``BadImageError`` named ``<root>[<split>][<row>]`` (and
    the image's original path, when the dataset kept it)."""

    def __init__(self, table, name: str, image_key: str, label_key: str, rows: list[int] | None = None) -> None:
        import datasets

        self.table = table.cast_column(image_key, datasets.Image(decode=False))
        self.name, self.image_key, self.label_key = name, image_key, label_key
        self.rows = rows
        self.labels = list(table[label_key]) if rows is None else [table[label_key][i] for i in rows]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        row = index if self.rows is None else self.rows[index]
        image = self.table[row][self.image_key]
        where = f"{self.name}[{row}]" + (f" ({image['path']})" if image.get("path") else "")
        source = io.BytesIO(image["bytes"]) if image.get("bytes") is not None else Path(image["path"])
        return read_image(source, where), self.labels[index]


def _columns(table, root: Path) -> tuple[str, str, list[str]]:
    import datasets

    features = table.features
    images = [key for key, feature in features.items() if isinstance(feature, datasets.Image)]
    labels = [key for key, feature in features.items() if isinstance(feature, datasets.ClassLabel)]
    if not images or not labels:
        raise ValueError(f"--data {root}: a saved dataset needs an Image column and a ClassLabel column, found "
                         f"{', '.join(f'{key} ({type(feature).__name__})' for key, feature in features.items())}")
    return images[0], labels[0], list(features[labels[0]].names)


def saved_splits(root: Path) -> tuple[dict[str, HFImages], list[str]]:
    """The splits of a saved dataset by role (``train``, and ``val``/``test`` when it has them), and the class
    names (the ClassLabel's, in its order)."""
    try:
        import datasets
    except ImportError:
        raise ValueError(f"--data {root} is a saved Hugging Face dataset: install the reader with "
                         "pip install 'mlpvision[hf]'") from None

    loaded = datasets.load_from_disk(str(root))
    tables = dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}
    if "train" not in tables:
        raise ValueError(f"--data {root}: the saved dataset has splits {', '.join(tables)} but no 'train'")
    image_key, label_key, classes = _columns(tables["train"], root)
    roles = {"train": "train", "test": "test", **{name: "val" for name in VAL_NAMES}}
    splits = {}
    for split, table in tables.items():
        if split in roles and roles[split] not in splits:
            splits[roles[split]] = HFImages(table, f"{root}[{split}]", image_key, label_key)
    return splits, classes
