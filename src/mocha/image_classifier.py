"""The manual's image classifier (`tools/image-classifier.jl`): a trained net behind an
easy interface that takes any number of images and returns, for each, the class
probabilities and the symbolic class names.

    classifier = ImageClassifier(net, "prob", channel_order=(3, 2, 1), classes=names)
    for r in classifier.classify(["cat.png", pixels]):
        print(r.name, r.class_name, r.probability, r.top)
    probs, class_name = classifier.classify([image])[0]      # as Mocha's `classify`

`net` is a trained `Net` whose first data layer feeds the images (a MemoryDataLayer as in the
manual; its transformers, e.g. `SubMean`, apply); `ImageClassifier.from_experiment(file,
model=...)` builds it from an experiment file and a snapshot or model file instead (and takes
the scale of its HDF5 data's `pixel_scale` attribute when `scale` is not given).

The manual's keywords, with Mocha's 1-based numbers: `channel_order` orders the net's channels
from the image's RGB (`(3, 2, 1)`: a BGR net, as Caffe's); `sp_order=(2, 1)` swaps height and
width (a net trained on column-major Julia images), `(1, 2)` keeps them; `grayscale` says the
net takes grey images (default: when it has one channel); `classes` names the classes
(default: their indices). Images are file paths (read with Pillow: the `images` extra), PIL
images or arrays of 0-255 pixels `(H, W)` or `(H, W, C)`; each is converted to grey or RGB,
resized (bilinear) to the net's size and multiplied by `scale`, then classified in batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mocha.core.errors import MochaError

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass
class Classification:
    """The result for one image: `probabilities` over the classes, the best class (index and
    name) and the `top` k (name, probability) pairs. Unpacks as Mocha's `(prob, class)`."""

    name: str
    probabilities: np.ndarray
    class_index: int
    class_name: str
    probability: float
    top: list[tuple[str, float]]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.probabilities, self.class_name))


def _order(value: Sequence[int], n: int, what: str) -> list[int]:
    """A 1-based permutation of 1..n (Mocha's) as 0-based indices."""
    items = [int(v) for v in value]
    if sorted(items) != list(range(1, n + 1)):
        raise MochaError(
            f"ImageClassifier: {what} must order 1..{n} (Mocha's 1-based numbers), got {value!r}"
        )
    return [v - 1 for v in items]


class ImageClassifier:
    """Classifies images with a trained net (see the module docstring)."""

    def __init__(
        self,
        net: Any,
        output: str | None = None,
        *,
        channel_order: Sequence[int] | None = None,
        sp_order: Sequence[int] = (1, 2),
        grayscale: bool | None = None,
        classes: Sequence[str] | None = None,
        scale: float = 1.0,
        batch_size: int = 100,
        top_k: int = 3,
    ) -> None:
        from mocha.core.net import Net

        if not isinstance(net, Net):
            raise MochaError(
                f"ImageClassifier: give a trained Net (or use ImageClassifier.from_experiment), "
                f"got {type(net).__name__}"
            )
        tops = [t for layer in net.layers if layer.is_source for t in layer.tops]
        if not tops or tops[0] not in net.output_blobs:
            raise MochaError(f"ImageClassifier: net {net.name!r} has no data layer to feed")
        shape = tuple(net.output_blobs[tops[0]].shape[1:])
        self._setup(net, net.layers, shape, output, None, None)
        self._options(channel_order, sp_order, grayscale, classes, scale, batch_size, top_k)

    @classmethod
    def from_experiment(
        cls,
        experiment: str | Path,
        model: str | Path,
        output: str | None = None,
        *,
        backend: str = "default",
        scale: float | None = None,
        **options: Any,
    ) -> ImageClassifier:
        """The net of an experiment file (its validation net) with the parameters of a
        snapshot, snapshot folder or model file; `scale` defaults to the `pixel_scale` its
        HDF5 data records (else 1)."""
        from mocha.experiment import load_experiment
        from mocha.prediction import training_input

        exp = load_experiment(experiment)
        layers = exp.layers_for("test" if exp.has_test_net else "train")
        tops = [t for layer in layers if layer.is_source for t in layer.tops] or ["data"]
        shape, prep = training_input(layers, tops[0])
        if shape is None or len(shape) != 3:
            raise MochaError(
                f"{experiment}: cannot tell the net's image shape (C, H, W) from its data "
                f"layer (got {shape}); prepare the training data first"
            )
        self = cls.__new__(cls)
        self._setup(None, layers, shape, output, str(model), backend)
        self._options(
            options.pop("channel_order", None),
            options.pop("sp_order", (1, 2)),
            options.pop("grayscale", None),
            options.pop("classes", None),
            prep.scale if scale is None else scale,
            options.pop("batch_size", 100),
            options.pop("top_k", 3),
        )
        self.mean = prep.mean if scale is None else None
        if options:
            raise TypeError(f"ImageClassifier.from_experiment: unknown options {sorted(options)}")
        return self

    def _setup(
        self,
        net: Any,
        layers: Sequence[Any],
        shape: tuple[int, ...],
        output: str | None,
        model: str | None,
        backend: str | None,
    ) -> None:
        if len(shape) != 3:
            raise MochaError(f"ImageClassifier: the net takes samples of shape {shape}, not images")
        self.net, self.layers, self.output = net, list(layers), output
        self.model, self.backend = model, backend
        self.channels, self.height, self.width = (int(d) for d in shape)
        self.mean: Any = None

    def _options(
        self,
        channel_order: Sequence[int] | None,
        sp_order: Sequence[int],
        grayscale: bool | None,
        classes: Sequence[str] | None,
        scale: float,
        batch_size: int,
        top_k: int,
    ) -> None:
        if grayscale is None:
            grayscale = self.channels == 1
        if grayscale and self.channels != 1 or not grayscale and self.channels != 3:
            raise MochaError(
                f"ImageClassifier: grayscale={grayscale}, but the net takes {self.channels} "
                f"channel(s)"
            )
        order = (1, 2, 3) if channel_order is None else channel_order
        self.channel_order = None if grayscale else _order(order, 3, "channel_order")
        self.transpose = _order(sp_order, 2, "sp_order") == [1, 0]
        self.grayscale, self.classes, self.scale = grayscale, classes, float(scale)
        self.batch_size, self.top_k = int(batch_size), int(top_k)

    def preprocess(self, image: Any) -> np.ndarray:
        """One image (path, PIL image or H×W[×C] array of 0-255 pixels) as (C, H, W) float32."""
        from mocha.core.extras import require

        Image = require("images", "ImageClassifier: reading and resizing images", "PIL.Image")
        if isinstance(image, str | Path):
            with Image.open(image) as img:
                img.load()
                image = img.copy()
        if isinstance(image, np.ndarray):
            image = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
        h, w = (self.width, self.height) if self.transpose else (self.height, self.width)
        image = image.convert("L" if self.grayscale else "RGB").resize(
            (w, h), Image.Resampling.BILINEAR
        )
        pixels = np.asarray(image, dtype=np.float32)
        x = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
        if self.transpose:
            x = x.transpose(0, 2, 1)
        if self.channel_order is not None:
            x = x[self.channel_order]
        if self.mean is not None:
            x = x - np.asarray(self.mean, np.float32)
        return np.ascontiguousarray(x * np.float32(self.scale))

    def classify(self, images: Sequence[Any]) -> list[Classification]:
        """Classify any number of images (see `preprocess`), in batches."""
        from mocha.prediction import predict

        if not images:
            return []
        x = np.stack([self.preprocess(image) for image in images])
        if self.net is not None:
            result = predict(self.net, x, batch_size=self.batch_size, output=self.output)
        else:
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
        probabilities = result.probabilities
        return [
            self._result(i, image, p) for i, (image, p) in enumerate(zip(images, probabilities))
        ]

    def _result(self, i: int, image: Any, probs: np.ndarray) -> Classification:
        order = np.argsort(-probs)
        best = int(order[0])
        return Classification(
            name=str(image) if isinstance(image, str | Path) else f"image {i}",
            probabilities=probs,
            class_index=best,
            class_name=self._name(best),
            probability=float(probs[best]),
            top=[(self._name(int(k)), float(probs[k])) for k in order[: self.top_k]],
        )

    def _name(self, index: int) -> str:
        if self.classes is not None and index < len(self.classes):
            return str(self.classes[index])
        return str(index)
