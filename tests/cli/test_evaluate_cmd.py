"""`mocha evaluate EXP --model SNAPSHOT|FOLDER [--json]`: the test net over the whole test set
with a trained model's parameters (issue 28 item 3)."""

from __future__ import annotations

import json

SNAPSHOT = '\n[[coffee_breaks]]\ntype = "Snapshot"\ndir = "snaps"\nevery_n_iter = 10\n'


def _train(app, runner, path, iters=20):
    result = runner.invoke(
        app, ["run", str(path), "--no-progress", "--json", "--max-iter", str(iters)]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_evaluate_a_folder_and_a_snapshot(app, runner, write_experiment, small_toml):
    path = write_experiment(small_toml + SNAPSHOT)
    trained = _train(app, runner, path)
    folder = path.parent / "snaps"
    result = runner.invoke(app, ["evaluate", str(path), "--model", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # the final validation of the run is the same test net on the same parameters
    assert report["statistics"]["accuracy"] == trained["validation"]["accuracy"]
    assert report["iteration"] == 20 and report["model"].endswith("snapshot-000020.h5")
    assert report["net"] == "test" and report["batches"] == 3  # 360 samples, batches of 120
    early = runner.invoke(
        app, ["evaluate", str(path), "-m", str(folder / "snapshot-000000.h5"), "--json"]
    )
    assert early.exit_code == 0, early.output
    untrained = json.loads(early.stdout)
    assert untrained["iteration"] == 0
    assert untrained["statistics"]["accuracy"] < report["statistics"]["accuracy"]
    text = runner.invoke(app, ["evaluate", str(path), "--model", str(folder)])
    assert text.exit_code == 0, text.output
    accuracy = report["statistics"]["accuracy"]
    assert f"accuracy = {accuracy:.6g} ({100 * accuracy:.2f}%)" in text.stdout
    assert "snapshot-000020.h5 (iteration 20)" in text.stdout


def test_losses_and_a_net_without_test_layers(app, runner, write_experiment, small_toml):
    """Without phase = "test" layers, the training layers run in the test phase; each loss
    is the mean over the batches of one epoch."""
    # one data layer, without a phase: the train split, 1437 samples in batches of 32
    text = small_toml.replace('phase = "test"\n', "").replace('phase = "train"\n', "")
    start = text.index('[[layers]]\ntype = "MemoryDataLayer"\nname = "test-data"')
    end = text.index("[[layers]]", start + 1)
    text = text[:start] + text[end:]
    path = write_experiment(text + SNAPSHOT)
    _train(app, runner, path, iters=10)
    result = runner.invoke(
        app, ["evaluate", str(path), "--model", str(path.parent / "snaps"), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["net"] == "train (in the test phase)"
    assert report["batches"] == -(-1437 // 32)
    assert set(report["losses"]) == {"loss"} and 0 < report["losses"]["loss"] < 5
    assert 0 < report["statistics"]["accuracy"] <= 1


def test_evaluate_errors_exit_2(app, runner, write_experiment, small_toml, tmp_path):
    path = write_experiment(small_toml)
    result = runner.invoke(app, ["evaluate", str(path), "--model", str(tmp_path / "none")])
    assert result.exit_code == 2 and "no such snapshot, model file or folder" in result.output
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["evaluate", str(path), "--model", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "holds no snapshot" in result.output
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    result = runner.invoke(app, ["evaluate", str(path), "--model", str(bad)])
    assert result.exit_code == 2, result.output


def test_listed_among_the_commands(app, runner):
    result = runner.invoke(app, ["--help"])
    assert "evaluate" in result.output


def test_a_converted_models_placeholder_data_is_refused(app, runner, write_experiment, small_toml):
    """A `mocha convert` output reads stand-in zeros: its "accuracy" would mean nothing."""
    text = small_toml.replace('name = "test-data"\n', 'name = "test-data"\nplaceholder = true\n')
    assert "placeholder = true" in text
    path = write_experiment(text + SNAPSHOT)
    plain = write_experiment(small_toml + SNAPSHOT, name="plain.toml")
    _train(app, runner, plain, iters=10)
    result = runner.invoke(
        app, ["evaluate", str(path), "--model", str(plain.parent / "snaps"), "--json"]
    )
    assert result.exit_code == 2
    assert "placeholder zeros" in result.output and "MemoryDataLayer('test-data')" in result.output
