"""Which one bounds a run, the input pipeline or the model: the training loader's images/s (read, decode, augment,
with the run's workers) beside the model's training images/s, both at the run's batch and input size.

The two are measured one after the other, each with the whole machine; in a run they share it (the workers decode
while the model trains), so a run reaches at most the smaller of the two, and less when the cores are shared.
"""

import time
from typing import Any

from ..data import ImageDataModule, build_transforms, data_config, load_splits, train_options
from ..train.config import resolve_config
from ..train.run import create_model
from . import timing

COLUMNS = ["model", "data", "batch_size", "img_size", "workers", "loader_img_s", "model_train_img_s", "bound"]


def loader_images_per_sec(loader: Any, batches: int) -> tuple[float, int]:
    """Images per second over ``batches`` batches after the first (which pays for starting the workers)."""
    iterator = iter(loader)
    next(iterator)
    started, images = time.perf_counter(), 0
    for _ in range(batches):
        try:
            images += len(next(iterator)[0])
        except StopIteration:
            break
    return images / (time.perf_counter() - started), images


def loader_vs_model(data: str, model: str, *, recipe: str | None = None, batch_size: int | None = None,
                    img_size: int | None = None, workers: int | None = None, batches: int = 20,
                    device: str = "cpu", repeats: int = 3) -> dict[str, Any]:
    """One row: the training configuration ``mlpvision train --data DATA --model MODEL [--recipe ...]`` would use,
    its loader's images/s and the model's training images/s."""
    given = {"data": data, "model": model, "recipe": recipe, "batch_size": batch_size, "img_size": img_size,
             "workers": workers}
    config = resolve_config({key: value for key, value in given.items() if value is not None})
    splits = load_splits(config.data, config.val_split, config.seed, config.bad_images)
    network = create_model(config, len(splits.classes))
    data_cfg = data_config(network, config.img_size)
    train_transform, eval_transform = build_transforms(data_cfg, train_options(config))
    module = ImageDataModule(splits, train_transform, eval_transform, config.batch_size, config.workers, config.seed,
                             config.aug_repeats)
    loader_rate, _ = loader_images_per_sec(module.train_dataloader(), batches)
    side = data_cfg["input_size"][1]
    model_rate = timing.measure(config.model, network, mode="train", batch_size=config.batch_size, img_size=side,
                                device=device, repeats=repeats).samples_per_sec
    return {
        "model": config.model, "data": data, "batch_size": config.batch_size, "img_size": side,
        "workers": config.workers, "loader_img_s": round(loader_rate, 1),
        "model_train_img_s": round(model_rate, 1), "bound": "loader" if loader_rate < model_rate else "model",
    }
