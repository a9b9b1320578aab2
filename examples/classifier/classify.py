"""Classify images with the LeNet trained by the MNIST example (`examples/mnist`).

    python examples/classifier/classify.py [IMAGE ...] [--model examples/mnist/snapshots]

Without images, it writes the first few MNIST test digits (from `data/mnist/test.h5`) as PNG
files into `examples/classifier/digits/` and classifies those, showing the true labels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mocha.image_classifier import DIGIT_NAMES, ImageClassifier

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def sample_digits(test_h5: Path, folder: Path, n: int) -> tuple[list[Path], list[int]]:
    """Write the first `n` test digits as PNG files; returns the files and their labels."""
    import h5py
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths, labels = [], []
    with h5py.File(test_h5, "r") as f:
        for i in range(n):
            pixels = (f["data"][i, 0] * 256).clip(0, 255).astype(np.uint8)
            path = folder / f"digit-{i}.png"
            Image.fromarray(pixels).save(path)
            paths.append(path)
            labels.append(int(f["label"][i, 0]))
    return paths, labels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", type=Path)
    parser.add_argument("--experiment", type=Path, default=ROOT / "examples/mnist/lenet.toml")
    parser.add_argument("--model", type=Path, default=ROOT / "examples/mnist/snapshots")
    parser.add_argument("--data", type=Path, default=ROOT / "data/mnist/test.h5")
    parser.add_argument("--backend", default="default")
    parser.add_argument("-n", type=int, default=5, help="test digits to sample (no images)")
    args = parser.parse_args(argv)

    labels: list[int | None] = [None] * len(args.images)
    images = list(args.images)
    if not images:
        images, known = sample_digits(args.data, HERE / "digits", args.n)
        labels = list(known)
    # the scale of the pixels (1/256) comes from the prepared data's `pixel_scale` attribute
    classifier = ImageClassifier.from_experiment(
        args.experiment, args.model, classes=DIGIT_NAMES, backend=args.backend
    )
    for result, label in zip(classifier.classify(images), labels):
        top = ", ".join(f"{name} {100 * p:.1f}%" for name, p in result.top)
        truth = "" if label is None else f"  (true: {DIGIT_NAMES[label]})"
        print(f"{result.name}: {result.class_name}{truth}   top: {top}")


if __name__ == "__main__":
    main()
