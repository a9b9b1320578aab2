"""An image classifier built on a trained Mocha net: the manual's `tools/image-classifier.jl`.

    from image_classifier import ImageClassifier

    classifier = ImageClassifier("examples/mnist/lenet.toml", model="examples/mnist/snapshots",
                                 classes=DIGIT_NAMES, scale=1 / 256)
    for result in classifier.classify(["seven.png", "two.png"]):
        print(result.name, result.class_name, result.probability)

It wraps the architecture of an experiment file and a model (a snapshot, a snapshot folder or
a Mocha HDF5 model file) and takes any number of images (file paths, PIL images or arrays of
pixels 0-255): each is converted to grey or RGB to match the net's channels, resized to the
net's input size, scaled by `scale` (the preprocessing the training data had: `mocha data
mnist` stores pixels / 256) and classified in batches. Results hold the class probabilities
and the symbolic class names, best first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mocha.experiment import load_experiment
from mocha.prediction import expected_sample_shape, predict

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass
class Classification:
    """The result for one image: `probabilities` over the classes, the best class (index and
    name) and the `top` k (name, probability) pairs."""

    name: str
    probabilities: np.ndarray
    class_index: int
    class_name: str
    probability: float
    top: list[tuple[str, float]]


class ImageClassifier:
    """Classifies images with the net of an experiment file and a trained model."""

    def __init__(
        self,
        experiment: str | Path,
        model: str | Path,
        classes: Sequence[str] | None = None,
        scale: float = 1.0,
        backend: str = "default",
        output: str | None = None,
        batch_size: int = 100,
        top_k: int = 3,
    ) -> None:
        exp = load_experiment(experiment)
        self.layers = exp.layers_for("test" if exp.has_test_net else "train")
        tops = [t for layer in self.layers if layer.is_source for t in layer.tops] or ["data"]
        shape = expected_sample_shape(self.layers, tops[0])
        if shape is None or len(shape) != 3:
            raise ValueError(
                f"{experiment}: cannot tell the net's image shape (C, H, W) from "
                f"its data layer (got {shape}); prepare the training data first"
            )
        self.channels, self.height, self.width = shape
        self.model, self.classes, self.scale = str(model), classes, float(scale)
        self.backend, self.output = backend, output
        self.batch_size, self.top_k = batch_size, top_k

    def preprocess(self, image: Any) -> np.ndarray:
        """One image (path, PIL image or H×W[×C] array of 0-255 pixels) as (C, H, W) float32."""
        from PIL import Image

        if isinstance(image, str | Path):
            with Image.open(image) as img:
                img.load()
                image = img.copy()
        if isinstance(image, np.ndarray):
            image = Image.fromarray(np.asarray(image).astype(np.uint8))
        mode = "L" if self.channels == 1 else "RGB"
        image = image.convert(mode).resize((self.width, self.height), Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.float32)
        x = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
        return x * np.float32(self.scale)

    def classify(self, images: Sequence[Any]) -> list[Classification]:
        """Classify any number of images (see `preprocess`), in batches."""
        if not images:
            return []
        x = np.stack([self.preprocess(image) for image in images])
        from mocha.backend_choice import make_backend

        backend = make_backend(self.backend)
        backend.init()
        try:
            result = predict(
                self.layers,
                x,
                batch_size=self.batch_size,
                output=self.output,
                model=self.model,
                backend=backend,
            )
        finally:
            backend.shutdown()
        out = []
        for image, probs in zip(images, result.probabilities):
            order = np.argsort(-probs)
            names = [self._name(int(i)) for i in order[: self.top_k]]
            best = int(order[0])
            out.append(
                Classification(
                    name=str(image) if isinstance(image, str | Path) else f"image {len(out)}",
                    probabilities=probs,
                    class_index=best,
                    class_name=self._name(best),
                    probability=float(probs[best]),
                    top=[(n, float(probs[i])) for n, i in zip(names, order[: self.top_k])],
                )
            )
        return out

    def _name(self, index: int) -> str:
        if self.classes is not None and index < len(self.classes):
            return self.classes[index]
        return str(index)
