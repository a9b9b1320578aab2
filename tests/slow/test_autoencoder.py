"""End to end: the stacked denoising auto-encoder example on real MNIST digits (small)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "autoencoder" / "train.py"


def load_example():
    spec = importlib.util.spec_from_file_location("autoencoder_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_pretrained_weights_are_shared_and_finetuned_net_beats_chance(capsys):
    example = load_example()
    if not (example.DEFAULT_DATA / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST mirror not found at {example.DEFAULT_DATA}")
    result = example.main(
        [
            "--n-train",
            "1000",
            "--n-test",
            "500",
            "--layers",
            "2",
            "--hidden",
            "64",
            "--pretrain-iter",
            "120",
            "--finetune-iter",
            "200",
            "--print-every",
            "1000",
        ]
    )
    out = capsys.readouterr().out
    assert "fine-tuned from pre-training: test accuracy" in out
    assert "trained from random init" in out
    # chance is 10%: both nets must have learned clearly
    assert result["finetune_accuracy"] > 0.6
    assert result["random_accuracy"] > 0.3
    assert all(np.isfinite(result["recon_losses"]))
    # the fine-tuning net's hidden layers hold the very blobs the auto-encoders trained,
    # with the pre-trained values (not re-initialized) when fine-tuning starts
    for key, pretrained in result["pretrained_weights"].items():
        same_blob, start = result["finetune_start"][key]
        assert same_blob, f"{key}: the fine-tuning net did not share the pre-trained blob"
        np.testing.assert_array_equal(start, pretrained)
