"""The default dataset: scikit-learn's 8x8 handwritten digits, which ship inside its wheel (no download)."""

import numpy as np
from PIL import Image

from .folder import LabeledImages

DIGITS_SPLIT_SEED = 0  # fixed, so that every run is tested on the same images


def digits_splits() -> tuple[LabeledImages, LabeledImages, LabeledImages, list[str]]:
    """1,797 digits as RGB images, split 70/10/20 into train/val/test, stratified by class, with a fixed seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = np.round(digits.images * (255 / 16)).astype(np.uint8)
    images = [Image.fromarray(pixel_map, mode="L").convert("RGB") for pixel_map in pixels]
    labels = digits.target.tolist()
    index = np.arange(len(labels))
    rest, test = train_test_split(index, test_size=0.2, stratify=labels, random_state=DIGITS_SPLIT_SEED)
    train, val = train_test_split(rest, test_size=0.125, stratify=[labels[i] for i in rest],
                                  random_state=DIGITS_SPLIT_SEED)

    def subset(indices: np.ndarray) -> LabeledImages:
        return LabeledImages([images[i] for i in indices], [labels[i] for i in indices])

    return subset(train), subset(val), subset(test), [str(d) for d in range(10)]
