"""RichProgress: the live progress bar and validation tables of `mocha run` on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from mocha.cli.run_cmd import _progress_breaks
from mocha.core.coffee import CoffeeBreak
from mocha.experiment import parse_experiment, run_experiment
from mocha.plugins.coffee.rich_progress import RichProgress

EXPERIMENT = {
    "name": "tiny",
    "backend": {"name": "numpy"},
    "layers": [
        {
            "type": "MemoryDataLayer",
            "phase": "train",
            "name": "d",
            "source": "sklearn:digits",
            "split": "train",
            "batch_size": 32,
        },
        {
            "type": "MemoryDataLayer",
            "phase": "test",
            "name": "t",
            "source": "sklearn:digits",
            "split": "test",
            "batch_size": 120,
        },
        {
            "type": "InnerProductLayer",
            "name": "ip",
            "output_dim": 10,
            "bottoms": ["data"],
            "tops": ["ip"],
        },
        {"type": "SoftmaxLossLayer", "phase": "train", "name": "loss", "bottoms": ["ip", "label"]},
        {"type": "AccuracyLayer", "phase": "test", "name": "acc", "bottoms": ["ip", "label"]},
    ],
    "solver": {"max_iter": 20, "lr_policy": 0.05},
    "coffee_breaks": [{"type": "ValidationPerformance", "every_n_iter": 10}],
}


def test_progress_bar_and_validation_tables(tmp_path, capsys):
    exp = parse_experiment(EXPERIMENT, tmp_path / "tiny.toml")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    result = run_experiment(
        exp, extra_coffee_breaks=[(RichProgress(console=console), 1)], handle_sigint=False
    )
    assert result.iterations == 20
    text = out.getvalue()
    assert "20/20" in text and "it/s" in text and "loss" in text
    assert "Validation after 10 iterations" in text and "acc-accuracy" in text
    assert "Validation after 20 iterations" in text


def test_no_progress_bar_unless_stderr_is_a_terminal():
    # under pytest stderr is captured, so it is not a terminal
    assert _progress_breaks(True) == []
    assert _progress_breaks(False) == []


class _Talker(CoffeeBreak):
    """A third-party coffee break that prints on stdout."""

    def enjoy(self, lounge, solver, net, state):
        if state.iter == 5:
            print("plugin says hello at iteration 5")


def test_take_stdout_mutes_the_training_log_and_shows_other_output(tmp_path, capsys):
    spec = dict(
        EXPERIMENT,
        coffee_breaks=[
            {"type": "ValidationPerformance", "every_n_iter": 10},
            {"type": "TrainingSummary", "every_n_iter": 5},
        ],
    )
    exp = parse_experiment(spec, tmp_path / "tiny.toml")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    bar = RichProgress(console=console, take_stdout=True)
    result = run_experiment(
        exp, extra_coffee_breaks=[(_Talker(), 1), (bar, 1)], handle_sigint=False
    )
    assert result.iterations == 20
    captured = capsys.readouterr().out
    assert "TRAIN iter=" not in captured and "Performance on Validation Set" not in captured
    assert "TRAIN iter=" not in out.getvalue()
    assert "plugin says hello at iteration 5" in out.getvalue()  # above the bar, not lost
    assert bar._muted == []  # the streams are given back


class _Objectives(CoffeeBreak):
    """Records the objective of every iteration."""

    def __init__(self):
        self.values = []

    def enjoy(self, lounge, solver, net, state):
        self.values.append(state.obj_val)


def test_validation_of_a_layer_named_accuracy_and_the_bar_fields(tmp_path):
    """The digits example's accuracy layer is named `accuracy` and reports `accuracy`: each
    validation shows it in a table, and the bar shows the running-average loss, the last
    validation metric, it/s and the time left (issue 28)."""
    spec = dict(EXPERIMENT, solver={"max_iter": 20, "lr_policy": 0.05})
    spec["layers"] = [
        dict(layer, name="accuracy") if layer["type"] == "AccuracyLayer" else layer
        for layer in EXPERIMENT["layers"]
    ]
    exp = parse_experiment(spec, tmp_path / "tiny.toml")
    console = Console(file=io.StringIO(), force_terminal=True, width=160, record=True)
    objectives = _Objectives()
    bar = RichProgress(console=console, window=5)
    result = run_experiment(
        exp, extra_coffee_breaks=[(objectives, 1), (bar, 1)], handle_sigint=False
    )
    assert result.iterations == 20
    text = console.export_text()
    for it in (10, 20):
        table = text.split(f"Validation after {it} iterations", 1)[1].split("\n\n", 1)[0]
        assert "accuracy" in table
    accuracy = result.validation["accuracy"]
    final = text.rstrip().splitlines()[-1]  # the bar as left at the end
    running = sum(objectives.values[-5:]) / 5  # the mean of the last `window` objectives
    assert f"loss {running:.5f}" in final
    assert f"val accuracy {100 * accuracy:.2f}%" in final
    assert "it/s" in final and "20/20" in final and "0:00:00" in final
    assert len(bar._listening) == 0  # the listeners are removed at the end
