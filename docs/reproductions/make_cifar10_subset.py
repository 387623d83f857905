"""A stratified CIFAR-10 subset as image folders (``OUT/{train,test}/<class>/NNNN.jpg``) for the reproductions.

The source is an ``.npz`` of the official splits stored as JPEG byte streams (keys ``train_jpeg``, ``train_offsets``,
``y_train``, ``test_*``, ``class_names``); the chosen images' bytes are written out unchanged. The same seed gives
the same images.

    python docs/reproductions/make_cifar10_subset.py cifar10_jpeg_full.npz /tmp/cifar10-2k --train 200 --test 100
"""

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("npz", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=200, help="training images per class")
    parser.add_argument("--test", type=int, default=100, help="test images per class")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = np.load(args.npz)
    classes = [str(name) for name in data["class_names"]]
    rng = np.random.default_rng(args.seed)
    for split, per_class in (("train", args.train), ("test", args.test)):
        buffer, offsets, labels = data[f"{split}_jpeg"], data[f"{split}_offsets"], data[f"y_{split}"]
        for label, name in enumerate(classes):
            chosen = np.sort(rng.choice(np.flatnonzero(labels == label), size=per_class, replace=False))
            folder = args.out / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in chosen:
                (folder / f"{index:05d}.jpg").write_bytes(buffer[offsets[index]:offsets[index + 1]].tobytes())
    print(f"{args.out}: {args.train * len(classes)} train and {args.test * len(classes)} test images, "
          f"{len(classes)} classes")


if __name__ == "__main__":
    main()
