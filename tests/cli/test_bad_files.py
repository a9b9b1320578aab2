"""A bad experiment file gives one clear message on stderr and exit status 2, never a
traceback."""

from __future__ import annotations

import pytest


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# (case id, edit of the small experiment, fragments the message must contain)
CASES = [
    (
        "toml-syntax",
        lambda t: _replace(t, 'name = "small"', 'name = "small'),
        ["invalid TOML", "line 1, column"],
    ),
    (
        "unknown-layer-type",
        lambda t: _replace(
            t, '"InnerProductLayer"\nname = "ip1"', '"InnerProductLayr"\nname = "ip1"'
        ),
        ["layers[2]", "unknown layer 'InnerProductLayr'", "Did you mean InnerProductLayer"],
    ),
    (
        "bad-field-value",
        lambda t: _replace(t, "output_dim = 20", "output_dim = -3"),
        ["layers[2] 'ip1'", "'output_dim'", "-3", "must be an int > 0"],
    ),
    (
        "unknown-field",
        lambda t: _replace(t, "output_dim = 20", "output_dim = 20\noutputdim = 2"),
        ["'ip1'", "unknown field 'outputdim'", "output_dim"],
    ),
    (
        "missing-blob",
        lambda t: _replace(t, 'bottoms = ["ip1"]', 'bottoms = ["ip9"]'),
        ["Illegal Network Topology", "'ip9'", "InnerProductLayer('ip2')"],
    ),
    (
        "duplicate-top",
        lambda t: _replace(t, 'tops = ["ip2"]', 'tops = ["ip1"]'),
        ["Illegal Network Topology", "'ip1'"],
    ),
    (
        "unknown-neuron",
        lambda t: _replace(t, 'neuron = "ReLU"', 'neuron = "ReLu"'),
        ["'ip1'", "field 'neuron'", "unknown neuron 'ReLu'", "ReLU"],
    ),
    (
        "bad-neuron-argument",
        lambda t: _replace(t, 'neuron = "ReLU"', 'neuron = {type = "ReLU", eps = 1}'),
        ["field 'neuron'", "ReLU", "eps", "epsilon"],
    ),
    (
        "unknown-top-level-key",
        lambda t: "[solvr]\nmax_iter = 3\n" + t,
        ["unknown key 'solvr'", "did you mean 'solver'"],
    ),
    (
        "bad-phase",
        lambda t: _replace(t, 'phase = "test"', 'phase = "validation"'),
        ["phase = 'validation'", "train, test, both"],
    ),
    ("no-layers", lambda t: 'name = "x"\n', ["no [[layers]]"]),
    (
        "duplicate-layer-name",
        lambda t: _replace(t, 'name = "ip2"', 'name = "ip1"'),
        ["both named 'ip1'"],
    ),
    (
        "unknown-data-source",
        lambda t: t.replace("sklearn:digits", "sklearn:digitz"),
        ["unknown data source 'sklearn:digitz'", "sklearn:digits"],
    ),
    (
        "unknown-lr-policy",
        lambda t: _replace(t, 'type = "Inv"', 'type = "Invv"'),
        ["lr_policy", "unknown LRPolicy 'Invv'", "Inv"],
    ),
    (
        "unknown-solver",
        lambda t: _replace(t, 'method = "SGD"', 'method = "SDG"'),
        ["unknown solver 'SDG'", "SGD"],
    ),
    (
        "bad-solver-parameter",
        lambda t: _replace(t, "max_iter = 20", "max_iter = 20\nregu_coef = -1"),
        ["[solver]", "regu_coef must be >= 0"],
    ),
    (
        "unknown-solver-key",
        lambda t: _replace(t, "max_iter = 20", "max_iters = 20"),
        ["[solver] (SGD)", "unknown key 'max_iters'", "did you mean 'max_iter'"],
    ),
    (
        "unknown-coffee-break",
        lambda t: t + '[[coffee_breaks]]\ntype = "TrainingSumary"\nevery_n_iter = 5\n',
        ["coffee_breaks[0]", "TrainingSumary", "TrainingSummary"],
    ),
    (
        "coffee-break-without-schedule",
        lambda t: t + '[[coffee_breaks]]\ntype = "TrainingSummary"\n',
        ["coffee_breaks[0]", "every_n_iter or every_n_epoch"],
    ),
    (
        "validation-without-test-net",
        lambda t: (
            t.replace('phase = "test"', 'phase = "train"')
            .replace('name = "test-data"', 'name = "other-data"')
            .replace(
                'phase = "train"\nsource = "sklearn:digits"\nsplit = "test"',
                'phase = "train"\ntops = ["d2", "l2"]\nsource = "sklearn:digits"\nsplit = "test"',
            )
            + ('[[coffee_breaks]]\ntype = "ValidationPerformance"\nevery_n_iter = 5\n')
        ),
        ["ValidationPerformance", 'phase = "test"'],
    ),
    (
        "missing-hdf5-source",
        lambda t: _replace(
            t,
            'type = "MemoryDataLayer"\nname = "test-data"\nphase = "test"\n'
            'source = "sklearn:digits"\nsplit = "test"\nbatch_size = 120',
            'type = "HDF5DataLayer"\nname = "test-data"\nphase = "test"\n'
            'source = "data/nosuch.txt"\nbatch_size = 120',
        ),
        ["test-data", "nosuch.txt"],
    ),
]


@pytest.mark.parametrize("edit,fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_experiment_file(app, runner, write_experiment, small_toml, edit, fragments):
    path = write_experiment(edit(small_toml))
    result = runner.invoke(app, ["run", str(path), "--no-progress", "--max-iter", "2"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    message = result.stderr
    assert message.startswith("Error:"), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_missing_experiment_file(app, runner, tmp_path):
    result = runner.invoke(app, ["run", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_unknown_backend_option(app, runner, write_experiment, small_toml):
    result = runner.invoke(app, ["run", str(write_experiment(small_toml)), "--backend", "numpi"])
    assert result.exit_code == 2
    assert "numpi" in result.stderr and "numpy" in result.stderr


@pytest.mark.parametrize("command", ["summary", "dot"])
def test_other_commands_report_bad_files_the_same_way(
    app, runner, write_experiment, small_toml, command, tmp_path
):
    path = write_experiment(small_toml.replace("output_dim = 20", "output_dim = 0"))
    args = [command, str(path)] + (["-o", str(tmp_path / "n.dot")] if command == "dot" else [])
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "'output_dim'" in result.stderr and "Traceback" not in result.output


def test_load_from_errors(app, runner, write_experiment, small_toml, tmp_path):
    path = write_experiment(small_toml)
    result = runner.invoke(app, ["run", str(path), "--load-from", str(tmp_path / "none.h5")])
    assert result.exit_code == 2 and "no such snapshot file" in result.stderr
    # a snapshot of another network: exit 2 naming the parameter and both shapes
    other = write_experiment(
        small_toml.replace("output_dim = 20", "output_dim = 7")
        + ('[[coffee_breaks]]\ntype = "Snapshot"\ndir = "snaps"\nevery_n_iter = 5\n'),
        "other.toml",
    )
    assert runner.invoke(app, ["run", str(other), "--max-iter", "1"]).exit_code == 0
    result = runner.invoke(app, ["run", str(path), "--load-from", str(tmp_path / "snaps")])
    assert result.exit_code == 2, result.output
    assert "written by another experiment" in result.stderr
    result = runner.invoke(
        app, ["run", str(path), "--load-from", str(tmp_path / "snaps"), "--allow-foreign-snapshot"]
    )
    assert result.exit_code == 2, result.output
    assert "ip1___weight" in result.stderr and "Traceback" not in result.output
