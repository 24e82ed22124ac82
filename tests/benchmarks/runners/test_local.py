"""The sweep's command line on this machine (benchmarks.runners.local): dry runs list every command, a sweep
runs what is missing and skips what is finished, --stack trains a grid point's runs as one, --parallel runs
side by side."""
import json
import os

import pytest

from benchmarks.runners import local
from benchmarks.study import configs
from benchmarks.study import grid
from benchmarks.study import suites
import helpers
from helpers import gin_flags, run_module, tiny_bindings

pytestmark = pytest.mark.integration


def _sweep(*args):
    return run_module("benchmarks.sweep", *args)


def test_dry_run_lists_every_command(tmp_path):
    """Without a preset or --metrics, every run is scored with disentanglement_lib's standard suite."""
    process = _sweep(f"--root={tmp_path}", "--dry_run")
    assert process.returncode == 0, process.stderr
    assert process.stdout.count("benchmarks.train --gin_file=") == 54
    assert "[54/54] rnn_factor_vae/gamma=50/seed=2: new" in process.stdout
    for metric in suites.STANDARD_SUITE:
        assert process.stdout.count(f"--gin_file={os.path.join(configs.METRICS_DIR, metric)}.gin") == 54
    assert process.stdout.count("benchmarks.evaluate") == 54 * 3
    for nothing in ("--metrics=none", "--metrics="):
        unscored = _sweep(f"--root={tmp_path}", "--dry_run", "--filter=cnn_beta_vae/beta=4/*", nothing)
        assert unscored.returncode == 0 and "benchmarks.evaluate" not in unscored.stdout
    assert not os.listdir(tmp_path)


def test_the_backend_flag_chooses_the_runs_keras_backend(tmp_path):
    """--backend takes effect although the sweep's own imports load Keras before its arguments are parsed."""
    env = {key: value for key, value in helpers.subprocess_env(**helpers.QUIET_TENSORFLOW).items()
           if key != "KERAS_BACKEND"}
    process = run_module("benchmarks.sweep", f"--root={tmp_path}", "--dry_run", "--filter=cnn_beta_vae/beta=4/seed=1",
                         "--metrics=none", "--backend=jax", env=env)
    assert process.returncode == 0, process.stderr
    assert "  KERAS_BACKEND=jax " in process.stdout and "benchmarks.train --gin_file=" in process.stdout


def test_a_sweep_runs_what_is_missing_and_skips_what_is_finished(tmp_path):
    data_dir = tmp_path / "tensorflow_datasets"
    quick = tiny_bindings(data_dir, **{"train.epochs": 1, "train.steps_per_epoch": 2, "train.batch_size": 50})
    args = [f"--root={tmp_path / 'runs'}", "--filter=cnn_beta_vae/beta=4/seed=1", "--metrics=none",
            *gin_flags(quick)]
    process = _sweep(*args)
    assert process.returncode == 0, process.stderr[-3000:]
    with open(tmp_path / "runs" / "cnn_beta_vae" / "beta=4" / "seed=1" / "results.json") as file:
        results = json.load(file)
    assert (results["hyperparameter_value"], results["seed"], results["steps"]) == (4.0, 1, 2)
    again = _sweep(*args)
    assert "[1/1] cnn_beta_vae/beta=4/seed=1: finished" in again.stdout
    assert "Starting" not in again.stderr and again.returncode == 0
    # The same run asked for with another configuration is refused, never passed off as finished.
    longer = _sweep(*args, "--gin_bindings=train.epochs = 2")
    assert longer.returncode != 0
    assert "holds a run with a different configuration" in longer.stderr
    assert "error: 1 run(s) failed: cnn_beta_vae/beta=4/seed=1" in longer.stderr
    # Scoring: the metric configs it lacks, the paper protocol resolved per method (protocol §7).
    scored = _sweep(*args, "--metrics=paper,mig", "--gin_bindings=train.verbose = 2")
    assert scored.returncode == 0, scored.stderr[-3000:]
    metrics = tmp_path / "runs" / "cnn_beta_vae" / "beta=4" / "seed=1" / "metrics"
    assert sorted(os.listdir(metrics)) == ["mig.gin", "mig.json", "paper.gin", "paper.json"]
    with open(metrics / "paper.json") as file:
        assert json.load(file)["split_seed"] == 1


def test_stack_groups_a_grid_points_runs_and_trains_them_as_one(tmp_path):
    runs = grid.grid(architectures=("cnn",), methods=("beta_vae", "factor_vae"))
    groups = local.stacked_groups(runs, 4)
    # β-VAE's 9 runs (3 values × 3 seeds) in groups of at most 4; FactorVAE's one at a time.
    assert [len(g) for g in groups] == [4, 4, 1] + [1] * 9
    assert [r for g in groups for r in g] == runs
    assert local.stacked_groups(runs, 1) == [[r] for r in runs]
    # On JAX a group shares one traced step: a grid point's seeds only.
    points = local.stacked_groups(runs, 4, seeds_only=True)
    assert [len(g) for g in points] == [3, 3, 3] + [1] * 9
    assert all(len({r.name.rsplit("/", 1)[0] for r in g}) == 1 for g in points)
    command = local.stacked_command(groups[0], "/root", ["train.epochs = 1"])
    assert command[1:4] == ["-m", "benchmarks.stacked", f"--gin_file={runs[0].gin_file}"]
    assert "--member_bindings=BetaVAE.beta = 0.2; train.seed = 1" in command
    assert command.count("--gin_bindings=train.epochs = 1") == 1

    data_dir = tmp_path / "tensorflow_datasets"
    quick = tiny_bindings(data_dir, **{"train.epochs": 1, "train.steps_per_epoch": 2, "train.batch_size": 50})
    args = [f"--root={tmp_path / 'runs'}", "--filter=cnn_annealed_vae/capacity=25/*", "--stack=3",
            *gin_flags(quick)]
    dry = _sweep(*args, "--dry_run")
    assert dry.stdout.count("benchmarks.stacked") == 1 and "(stacked with 2 more)" in dry.stdout
    process = _sweep(*args, "--metrics=mig")
    assert process.returncode == 0, process.stderr[-3000:]
    for seed in (0, 1, 2):
        folder = tmp_path / "runs" / "cnn_annealed_vae" / "capacity=25" / f"seed={seed}"
        with open(folder / "results.json") as file:
            results = json.load(file)
        assert (results["seed"], results["stacked_members"], results["steps"]) == (seed, 3, 2)
        assert os.path.exists(folder / "metrics" / "mig.json")
    assert "--stack and --parallel: for --runner=local only" in _sweep(*args, "--runner=ray").stderr


def test_parallel_runs_side_by_side_and_build_the_dataset_once(tmp_path):
    """Two runs at once on a fresh data folder: one builds the dataset while the other waits on its
    lock, both train, each one's output lands in its folder's sweep.log."""
    data_dir = tmp_path / "tensorflow_datasets"
    quick = tiny_bindings(data_dir, **{"train.epochs": 1, "train.steps_per_epoch": 2, "train.batch_size": 50,
                                       "train.verbose": 2})
    args = [f"--root={tmp_path / 'runs'}", "--filter=cnn_beta_vae/beta=1/seed=0", "--filter=cnn_factor_vae/gamma=1/seed=0",
            "--parallel=2", "--metrics=none", *gin_flags(quick)]
    process = _sweep(*args)
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    assert "done: cnn_beta_vae/beta=1/seed=0" in process.stdout
    assert "done: cnn_factor_vae/gamma=1/seed=0" in process.stdout
    for name in ("cnn_beta_vae/beta=1/seed=0", "cnn_factor_vae/gamma=1/seed=0"):
        folder = tmp_path / "runs" / name
        assert (folder / "results.json").exists()
        assert "test reconstruction accuracy" in (folder / "sweep.log").read_text()
    # Sweeping again over the finished runs checks them without touching their logs.
    logs = {name: (tmp_path / "runs" / name / "sweep.log").read_bytes()
            for name in ("cnn_beta_vae/beta=1/seed=0", "cnn_factor_vae/gamma=1/seed=0")}
    again = _sweep(*args)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "done: cnn_beta_vae/beta=1/seed=0" in again.stdout
    assert {name: (tmp_path / "runs" / name / "sweep.log").read_bytes() for name in logs} == logs
    # A finished run asked for with another configuration fails, and says why in its log.
    longer = _sweep(*args, "--gin_bindings=train.epochs = 2")
    assert longer.returncode != 0
    assert "holds a run with a different configuration" in (tmp_path / "runs" / "cnn_beta_vae/beta=1/seed=0" /
                                                             "sweep.log").read_text()
    assert "--stack and --parallel: for --runner=local only" in _sweep(*args, "--runner=ray").stderr
