"""Stacked denoising auto-encoders as pre-training for a sigmoid MLP on real MNIST digits.

    python examples/autoencoder/train.py [--backend numpy] [--n-train 3000] [--hidden 256]
        [--layers 2] [--pretrain-iter 300] [--finetune-iter 600] [--data-dir DIR]

The manual's tutorial (§1.4) in miniature: each hidden layer is pre-trained as a denoising
auto-encoder (Split → RandomMask → the hidden InnerProductLayer → a TiedInnerProductLayer
decoder → SquareLoss) with the layers below it frozen; the hidden layers share their
parameters with the encoders through `param_key`, so the fine-tuning net starts from the
pre-trained weights. The same net is then trained from a random initialization
(`registry_reset`) for comparison. Both test accuracies are printed.

The digits are read from the IDX files in `--data-dir` (default: the repository's
`../shared/data/mnist` mirror, or `$MOCHA_MNIST_DIR`). To run in about a minute on the NumPy
backend the settings are smaller than the manual's (3,000 images instead of 60,000, 2 hidden
layers of 256 units instead of 3 of 1,000, a few hundred iterations instead of 15 and 1,000
epochs), with momentum 0.9 and larger learning rates in place of the manual's momentum 0.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

import mocha
from mocha import (
    AccuracyLayer,
    IdentityLayer,
    InnerProductLayer,
    LRPolicy,
    MemoryDataLayer,
    MomPolicy,
    Net,
    Neurons,
    RandomMaskLayer,
    SoftmaxLossLayer,
    Solver,
    SplitLayer,
    SquareLossLayer,
    TiedInnerProductLayer,
    TrainingSummary,
    add_coffee_break,
    copy,
    freeze_all,
    make_backend,
    make_solver_parameters,
    registry_reset,
    solve,
    unfreeze,
)
from mocha.datasets.mnist import load_arrays

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"


def load_mnist(data_dir: Path, split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `n` digits of `split` ("train" or "t10k") as NCHW float32 in [0, 1) and
    (N, 1) float32 labels."""
    return load_arrays(data_dir, split, limit=n)


def test_accuracy(backend, data_layer_test, body) -> float:
    """Accuracy of the net `body` (sharing parameters by name) on one pass of the test data."""
    test_net = Net(
        "MNIST-test",
        backend,
        [data_layer_test, *body, AccuracyLayer(name="test-accuracy", bottoms=["pred", "label"])],
        phase="test",
    )
    test_net.reset_statistics()
    test_net.forward_epoch()
    accuracy = test_net.statistics()["test-accuracy"]
    test_net.shutdown()
    return accuracy


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numpy")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("MOCHA_MNIST_DIR", DEFAULT_DATA))
    )
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--layers", type=int, default=2, help="hidden layers")
    parser.add_argument("--hidden", type=int, default=256, help="units per hidden layer")
    parser.add_argument("--pretrain-iter", type=int, default=300, help="per hidden layer")
    parser.add_argument("--finetune-iter", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--pretrain-lr", type=float, default=0.05)
    parser.add_argument("--finetune-lr", type=float, default=0.1)
    parser.add_argument("--print-every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    x_train, y_train = load_mnist(args.data_dir, "train", args.n_train)
    x_test, y_test = load_mnist(args.data_dir, "t10k", args.n_test)
    backend = make_backend(args.backend, seed=args.seed)
    mocha.init(backend)

    # -- the experiment configuration (manual §1.4.2, smaller) ---------------------------
    n_hidden_layer = args.layers
    neuron = Neurons.Sigmoid()
    corruption_rates = [0.1, 0.2, 0.3, 0.3, 0.3][:n_hidden_layer]
    param_keys = [f"ip-layer-{i}" for i in range(1, n_hidden_layer + 1)]
    summary_every = max(1, args.print_every)

    data_layer = MemoryDataLayer(
        name="train-data", data=[x_train, y_train], batch_size=args.batch_size, shuffle=True
    )
    rename_layer = IdentityLayer(bottoms=["data"], tops=["ip0"])
    hidden_layers = [
        InnerProductLayer(
            name=f"ip-{i}",
            param_key=param_keys[i - 1],
            output_dim=args.hidden,
            neuron=neuron,
            bottoms=[f"ip{i - 1}"],
            tops=[f"ip{i}"],
        )
        for i in range(1, n_hidden_layer + 1)
    ]

    # -- layer-wise pre-training (manual §1.4.3) -----------------------------------------
    pretrained = {}
    recon_losses = []
    for i in range(1, n_hidden_layer + 1):
        ae_data_layer = SplitLayer(bottoms=[f"ip{i - 1}"], tops=["orig_data", "corrupt_data"])
        corrupt_layer = RandomMaskLayer(ratio=corruption_rates[i - 1], bottoms=["corrupt_data"])
        encode_layer = copy(hidden_layers[i - 1], bottoms=["corrupt_data"])
        recon_layer = TiedInnerProductLayer(
            name=f"tied-ip-{i}",
            tied_param_key=param_keys[i - 1],
            tops=["recon"],
            bottoms=[f"ip{i}"],
        )
        recon_loss_layer = SquareLossLayer(bottoms=["recon", "orig_data"])

        da_layers = [
            data_layer,
            rename_layer,
            ae_data_layer,
            corrupt_layer,
            *hidden_layers[: i - 1],
            encode_layer,
            recon_layer,
            recon_loss_layer,
        ]
        da = Net(f"Denoising-Autoencoder-{i}", backend, da_layers)
        print(da)
        # freeze all but the layers of this auto-encoder
        freeze_all(da)
        unfreeze(da, f"ip-{i}", f"tied-ip-{i}")

        method = mocha.SGD()
        pretrain_params = make_solver_parameters(
            method,
            max_iter=args.pretrain_iter,
            regu_coef=0.0,
            mom_policy=MomPolicy.Fixed(0.9),
            lr_policy=LRPolicy.Fixed(args.pretrain_lr),
        )
        solver = Solver(method, pretrain_params)
        add_coffee_break(solver, TrainingSummary("iter", "obj_val"), every_n_iter=summary_every)
        state = solve(solver, da)
        recon_losses.append(state.obj_val)
        weight = da.state_of(f"ip-{i}").parameters[0]
        pretrained[f"ip-{i}"] = (weight.blob, weight.blob.to_host())
        da.shutdown()

    # -- supervised fine-tuning (manual §1.4.4) ------------------------------------------
    pred_layer = InnerProductLayer(
        name="pred", output_dim=10, bottoms=[f"ip{n_hidden_layer}"], tops=["pred"]
    )
    loss_layer = SoftmaxLossLayer(bottoms=["pred", "label"])
    data_layer_test = MemoryDataLayer(
        name="test-data", data=[x_test, y_test], batch_size=args.batch_size
    )
    body = [rename_layer, *hidden_layers, pred_layer]

    def finetune(name: str) -> tuple[Net, float]:
        net = Net(name, backend, [data_layer, *body, loss_layer])
        method = mocha.SGD()
        params = make_solver_parameters(
            method,
            max_iter=args.finetune_iter,
            regu_coef=0.0,
            mom_policy=MomPolicy.Fixed(0.9),
            lr_policy=LRPolicy.Fixed(args.finetune_lr),
        )
        solver = Solver(method, params)
        add_coffee_break(solver, TrainingSummary("iter", "obj_val"), every_n_iter=summary_every)
        net.init()  # shared (pre-trained) parameters are left alone
        start = {
            f"ip-{i}": net.state_of(f"ip-{i}").parameters[0] for i in range(1, n_hidden_layer + 1)
        }
        shared = {k: (p.blob is pretrained[k][0], p.blob.to_host()) for k, p in start.items()}
        solve(solver, net)
        accuracy = test_accuracy(backend, data_layer_test, body)
        net.shutdown()
        return shared, accuracy

    shared, finetune_accuracy = finetune("MNIST-finetune")
    print(
        f"fine-tuned from pre-training: test accuracy {100 * finetune_accuracy:.2f}% "
        f"on {len(x_test)} digits"
    )

    # -- comparison with random initialization (manual §1.4.5) ---------------------------
    registry_reset(backend)
    _, random_accuracy = finetune("MNIST-rnd")
    print(
        f"trained from random init:     test accuracy {100 * random_accuracy:.2f}% "
        f"on {len(x_test)} digits"
    )
    mocha.shutdown(backend)
    return {
        "finetune_accuracy": finetune_accuracy,
        "random_accuracy": random_accuracy,
        "recon_losses": recon_losses,
        "pretrained_weights": {k: v[1] for k, v in pretrained.items()},
        "finetune_start": shared,
    }


if __name__ == "__main__":
    main()
