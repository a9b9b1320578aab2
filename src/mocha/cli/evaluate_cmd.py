"""`mocha evaluate EXPERIMENT.toml --model SNAPSHOT|FOLDER [--json]`: test a trained model.

Like Caffe's `caffe test` or Keras' `evaluate`: the experiment's test net (its `phase =
"test"` layers; without them, its training layers run in the test phase, so no dropout) gets
the parameters of `--model` (a snapshot, a snapshot folder's latest intact snapshot, or a
Mocha HDF5 model file) and runs over the whole test set, one epoch of its data layer, as
ValidationPerformance does. It prints the statistics of its statistics layers (`accuracy`,
...) and the mean of each loss over the batches; `--json` prints them as one JSON object.

Exit status: 0 done, 2 the experiment file, a data file or the model is at fault.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from mocha.core.errors import MochaError
from mocha.core.hookspecs import hookimpl


def evaluate_net(net: Any) -> dict[str, Any]:
    """One epoch of `net` in the test phase: its statistics, the mean of each loss over the
    batches, and the number of batches."""
    losses: dict[str, float] = {}
    batches = 0
    with net.evaluating():
        net.reset_statistics()
        epoch = net.epoch
        while True:
            net.forward()
            batches += 1
            for state in net.states:
                if state.layer.has_loss:
                    losses[state.layer.name] = losses.get(state.layer.name, 0.0) + float(state.loss)
            if net.epoch != epoch:
                break
    return {
        "statistics": {k: float(v) for k, v in net.statistics().items()},
        "losses": {k: v / batches for k, v in losses.items()},
        "batches": batches,
    }


def evaluate_experiment(exp: Any, model: Path, backend: str | None = None) -> dict[str, Any]:
    """Evaluate `model` with the experiment's test net (see the module docstring)."""
    from mocha.core.io.snapshot import load_snapshot
    from mocha.experiment import experiment_nets
    from mocha.prediction import resolve_model

    # a converted model's stand-in zeros: an accuracy on them means nothing
    exp.refuse_placeholders("test" if exp.has_test_net else "train", "test data")
    path = resolve_model(model)
    with experiment_nets(exp, backend) as (train_net, test_net):
        net = test_net if test_net is not None else train_net
        if not net.data_layers:
            raise MochaError(f"{exp.path.name}: the {net.name!r} net has no data layer")
        iteration = load_snapshot(net, path)
        result = evaluate_net(net)
    return {
        "experiment": exp.name,
        "net": "test" if test_net is not None else "train (in the test phase)",
        "model": path,
        "iteration": iteration,
        **result,
    }


def _percent(name: str, value: float) -> str:
    return f" ({100 * value:.2f}%)" if name.endswith(("accuracy", "error")) else ""


def evaluate(
    experiment: Annotated[Path, typer.Argument(help="The experiment file (TOML).")],
    *,
    model: Annotated[
        Path,
        typer.Option(
            "--model",
            "-m",
            help="Snapshot, snapshot folder (its latest intact snapshot) or HDF5 model file.",
        ),
    ],
    backend: Annotated[
        str | None,
        typer.Option(
            help="Backend (numpy, numba, cupy, cpu, gpu, default); overrides \\[backend]."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object on stdout.")] = False,
) -> None:
    """Evaluate a trained model on the experiment's [bold]test set[/]: print its statistics."""
    from mocha.cli.app import fail
    from mocha.experiment import load_experiment

    try:
        exp = load_experiment(experiment)
        report = evaluate_experiment(exp, model, backend)
    except MochaError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{experiment}: {type(exc).__name__}: {exc}") from None
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    batches = f"{report['batches']} batch{'es' if report['batches'] != 1 else ''}"
    typer.echo(
        f"{report['experiment']}: {report['net']} net over one epoch ({batches}), "
        f"model {os.path.basename(report['model'])} (iteration {report['iteration']})"
    )
    for name, value in sorted(report["statistics"].items()):
        typer.echo(f"  {name} = {value:.6g}{_percent(name, value)}")
    for name, value in sorted(report["losses"].items()):
        typer.echo(f"  loss {name} = {value:.6g} (mean over the batches)")
    if not report["statistics"] and not report["losses"]:
        typer.echo("  (the net has no statistics or loss layer: nothing to report)")


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
