"""Fine-tune a real Caffe model (CIFAR-10 "quick", ../shared/data/caffe/cifar10_quick) to read
handwritten digits (MNIST, ../shared/data/mnist): everything offline.

    python examples/finetune/prepare.py --out finetune/       # convert, data, experiment
    mocha run finetune/finetune.toml                          # train the new head

1. `mocha convert caffe` (here through its Python API) turns the trained Caffe model into
   `cifar10_quick/CIFAR10_quick.toml` and its weights `cifar10_quick/CIFAR10_quick.h5`.
2. MNIST digits become CIFAR-sized images: padded 28 → 32, grey copied to 3 channels, values
   0–255 (what the Caffe model was trained on), in `train.h5` / `test.h5`.
3. `finetune.toml` is the converted net with the placeholder data layer pointed at the
   digits (one layer per phase), CIFAR's 10-way `ip2` head replaced by a new `digits` layer,
   and an `[init]` table: conv1–conv3 and ip1 start from the Caffe weights, conv1 and conv2
   are frozen (not trained), the rest (conv3, ip1 and the new head) trains. A Snapshot break
   lets `mocha run` resume.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / ".." / "shared" / "data"
CAFFE = SHARED / "caffe" / "cifar10_quick"
HEAD = ("ip2", "accuracy", "loss", "prob")  # CIFAR-10's classifier and its loss: replaced


def digits(split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n MNIST digits as (n, 3, 32, 32) float32 in 0–255 and (n, 1) labels."""
    from mocha.datasets.mnist import load_arrays

    x, y = load_arrays(SHARED / "mnist", split, limit=n)
    x = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))) * np.float32(255)
    return np.repeat(x, 3, axis=1), y


def experiment(conv, batch: int, max_iter: int) -> dict:
    """The converted net, with the digits as data and a new head (see the module doc)."""
    layers = [t for t in conv.layers if t["name"] not in HEAD]
    source = layers.pop(0)  # the placeholder MemoryDataLayer (with Caffe's mean and BGR)
    data = []
    for phase in ("train", "test"):
        table = {k: v for k, v in source.items() if k != "placeholder"}
        table.update(name=f"digits-{phase}", source=f"{phase}.h5", batch_size=batch, phase=phase)
        table["transformers"] = [
            {**t, "mean_file": f"cifar10_quick/{t['mean_file']}"} if "mean_file" in t else t
            for t in table.get("transformers", [])
        ]
        data.append(table)
    features = conv.blobs["ip1"]
    head = [
        {"type": "InnerProductLayer", "name": "digits", "output_dim": 10},
        {"type": "SoftmaxLossLayer", "name": "loss", "bottoms": ["digits", "label"]},
        {
            "type": "AccuracyLayer",
            "name": "accuracy",
            "bottoms": ["digits", "label"],
            "phase": "test",
        },
    ]
    head[0].update(bottoms=[features], tops=["digits"])
    return {
        "name": "finetune-digits",
        "description": "CIFAR-10 quick (Caffe) fine-tuned to MNIST digits",
        "backend": {"name": "default", "dtype": "float32", "seed": 0},
        "init": {
            "model": "cifar10_quick/CIFAR10_quick.h5",
            "layers": ["conv1", "conv2", "conv3", "ip1"],
            "freeze": ["conv1", "conv2"],
        },
        "layers": data + layers + head,
        "solver": {
            "method": "SGD",
            "max_iter": max_iter,
            "lr_policy": {"type": "Fixed", "base_lr": 0.001},
            "mom_policy": {"type": "Fixed", "base_mom": 0.9},
            "regu_coef": 0.004,
            "load_from": "snapshots",
        },
        "coffee_breaks": [
            {"type": "TrainingSummary", "every_n_iter": 50},
            {"type": "ValidationPerformance", "every_n_iter": max_iter},
            {"type": "Snapshot", "dir": "snapshots", "every_n_iter": max_iter},
        ],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("finetune"))
    ap.add_argument("--train", type=int, default=5000, help="training digits")
    ap.add_argument("--test", type=int, default=1000, help="test digits")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--max-iter", type=int, default=500)
    args = ap.parse_args(argv)

    import h5py

    from mocha.experiment.toml_writer import dumps
    from mocha.interop import caffe

    out = args.out
    conv = caffe.convert(
        CAFFE / "prediction_example.prototxt",
        CAFFE / "cifar10_quick_iter_5000.caffemodel",
        mean_value="113.9,123.0,125.3",  # CIFAR-10's channel means, B, G, R
        input_shape="3,32,32",
        drop=["argmax"],
    )
    caffe.write_experiment(conv, out / "cifar10_quick")
    for split, n in (("train", args.train), ("test", args.test)):
        x, y = digits(split, n)
        with h5py.File(out / f"{split}.h5", "w") as f:
            f["data"], f["label"] = x, y
    doc = experiment(conv, args.batch, args.max_iter)
    (out / "finetune.toml").write_text(dumps(doc), encoding="utf-8")
    print(f"wrote {out / 'finetune.toml'}; train it with: mocha run {out / 'finetune.toml'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
