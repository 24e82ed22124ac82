"""The sweep spells out SPEC §6's 54-run grid, lays runs out for the report, and skips finished runs."""
import json
import os
import re
import subprocess
import sys

from benchmarks import sweep

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_grid_is_the_papers():
    runs = sweep.grid()
    assert len(runs) == 54 == len({r.name for r in runs})
    layout = re.compile(r"(cnn|rnn)_(beta_vae/beta|annealed_vae/capacity|factor_vae/gamma)=[0-9.]+/seed=[012]")
    assert all(layout.fullmatch(r.name) for r in runs)
    assert all(os.path.isfile(r.gin_file) for r in runs)
    values = {m: sorted({r.name.split("/")[1] for r in runs if f"_{m}/" in r.name}) for m in sweep.METHODS}
    assert values == {"beta_vae": ["beta=0.2", "beta=1", "beta=4"],
                      "annealed_vae": ["capacity=25", "capacity=50", "capacity=75"],
                      "factor_vae": ["gamma=1", "gamma=10", "gamma=50"]}
    run = next(r for r in runs if r.name == "rnn_factor_vae/gamma=50/seed=2")
    assert run.bindings == ("FactorVAE.gamma = 50.0", "train.seed = 2")
    assert run.model_dir("/root") == "/root/rnn_factor_vae/gamma=50/seed=2"


def test_filters_take_substrings_and_globs():
    runs = sweep.grid()
    assert len([r for r in runs if sweep.matches(r, ["cnn_beta_vae"])]) == 9
    assert len([r for r in runs if sweep.matches(r, ["*/seed=0"])]) == 18
    assert len([r for r in runs if sweep.matches(r, ["rnn_*/gamma=1/*", "cnn_annealed_vae/capacity=25"])]) == 6


def _sweep(*args):
    return subprocess.run([sys.executable, "-m", "benchmarks.sweep", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def test_dry_run_lists_every_command(tmp_path):
    process = _sweep(f"--root={tmp_path}", "--dry_run")
    assert process.returncode == 0, process.stderr
    assert process.stdout.count("benchmarks.train --gin_file=") == 54
    assert "[54/54] rnn_factor_vae/gamma=50/seed=2: new" in process.stdout
    assert not os.listdir(tmp_path)


def test_a_sweep_runs_what_is_missing_and_skips_what_is_finished(tmp_path):
    data_dir = tmp_path / "tensorflow_datasets"
    quick = ["TFDSSource.config = 'tiny'", f"TFDSSource.data_dir = '{data_dir}'", "train.epochs = 1",
             "train.steps_per_epoch = 2", "train.batch_size = 50", "train.verbose = 0"]
    args = [f"--root={tmp_path / 'runs'}", "--filter=cnn_beta_vae/beta=4/seed=1",
            *(f"--gin_bindings={b}" for b in quick)]
    process = _sweep(*args)
    assert process.returncode == 0, process.stderr[-3000:]
    with open(tmp_path / "runs" / "cnn_beta_vae" / "beta=4" / "seed=1" / "results.json") as file:
        results = json.load(file)
    assert (results["hyperparameter_value"], results["seed"], results["steps"]) == (4.0, 1, 2)
    again = _sweep(*args)
    assert "[1/1] cnn_beta_vae/beta=4/seed=1: finished" in again.stdout
    assert "Starting" not in again.stderr


def test_dsprites_runs_join_the_grid_on_request():
    runs = sweep.grid(architectures=sweep.ARCHITECTURES + ("dsprites",))
    dsprites = [r for r in runs if r.name.startswith("dsprites_")]
    assert len(runs) == 81 and len(dsprites) == 27
    assert all(os.path.isfile(r.gin_file) for r in dsprites)
