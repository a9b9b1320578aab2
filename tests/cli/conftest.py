"""Fixtures for the command-line tests: the root app and a CliRunner."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mocha.cli.app import make_app

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "examples" / "digits" / "digits.toml"

# A small, fast experiment (sklearn digits, tiny MLP) that tests modify to make bad files.
SMALL = textwrap.dedent("""\
    name = "small"

    [backend]
    name = "numpy"

    [[layers]]
    type = "MemoryDataLayer"
    name = "train-data"
    phase = "train"
    source = "sklearn:digits"
    split = "train"
    batch_size = 32
    shuffle = true

    [[layers]]
    type = "MemoryDataLayer"
    name = "test-data"
    phase = "test"
    source = "sklearn:digits"
    split = "test"
    batch_size = 120

    [[layers]]
    type = "InnerProductLayer"
    name = "ip1"
    output_dim = 20
    neuron = "ReLU"
    bottoms = ["data"]
    tops = ["ip1"]

    [[layers]]
    type = "InnerProductLayer"
    name = "ip2"
    output_dim = 10
    bottoms = ["ip1"]
    tops = ["ip2"]

    [[layers]]
    type = "SoftmaxLossLayer"
    name = "loss"
    phase = "train"
    bottoms = ["ip2", "label"]

    [[layers]]
    type = "AccuracyLayer"
    name = "accuracy"
    phase = "test"
    bottoms = ["ip2", "label"]

    [solver]
    method = "SGD"
    max_iter = 20
    lr_policy = {type = "Inv", base_lr = 0.05, gamma = 0.0001, power = 0.75}
    mom_policy = 0.9
    """)


@pytest.fixture(scope="session")
def small_toml() -> str:
    """The text of a small, fast experiment (tiny MLP on sklearn digits, 20 iterations)."""
    return SMALL


@pytest.fixture(scope="session")
def digits_toml() -> Path:
    """The README's main example, `examples/digits/digits.toml`."""
    return DIGITS


@pytest.fixture(scope="session")
def app():
    return make_app()


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def write_experiment(tmp_path):
    """Write an experiment file into tmp_path: `write_experiment(text, name="exp.toml")`."""

    def write(text: str, name: str = "exp.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
