"""The sweep spells out protocol §6's 54-run grid, lays runs out for the report, and skips finished runs."""
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
    values = {m: sorted({r.name.split("/")[1] for r in runs if f"_{m}/" in r.name}) for m in sweep.PAPER_METHODS}
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
    """Without a preset or --metrics, every run is scored with disentanglement_lib's standard suite."""
    process = _sweep(f"--root={tmp_path}", "--dry_run")
    assert process.returncode == 0, process.stderr
    assert process.stdout.count("benchmarks.train --gin_file=") == 54
    assert "[54/54] rnn_factor_vae/gamma=50/seed=2: new" in process.stdout
    for metric in sweep.STANDARD_SUITE:
        assert process.stdout.count(f"--gin_file={os.path.join(sweep.METRICS_DIR, metric)}.gin") == 54
    assert process.stdout.count("benchmarks.evaluate") == 54 * 3
    for nothing in ("--metrics=none", "--metrics="):
        unscored = _sweep(f"--root={tmp_path}", "--dry_run", "--filter=cnn_beta_vae/beta=4/*", nothing)
        assert unscored.returncode == 0 and "benchmarks.evaluate" not in unscored.stdout
    assert not os.listdir(tmp_path)


def test_a_sweep_runs_what_is_missing_and_skips_what_is_finished(tmp_path):
    data_dir = tmp_path / "tensorflow_datasets"
    quick = ["TFDSSource.config = 'tiny'", f"TFDSSource.data_dir = '{data_dir}'", "train.epochs = 1",
             "train.steps_per_epoch = 2", "train.batch_size = 50", "train.verbose = 0"]
    args = [f"--root={tmp_path / 'runs'}", "--filter=cnn_beta_vae/beta=4/seed=1", "--metrics=none",
            *(f"--gin_bindings={b}" for b in quick)]
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


def test_the_compressed_preset_scales_every_schedule_by_one_factor():
    """s = 0.1 for the 9 CNN grid points, s = 0.05 for three RNN points: epochs 100·s, warm-up 10·s
    epochs, annealing 100,000·s steps (FactorVAE has only epochs); one CNN value of each method beyond
    the paper at s = 0.1."""
    compressed = sweep.preset("compressed")
    names = [r.name for r in compressed.runs]
    assert len(names) == 17 and all(n.endswith("/seed=0") for n in names)
    assert names[12:] == ["cnn_beta_tc_vae/beta=6/seed=0", "cnn_dip_vae_i/lambda_od=10/seed=0",
                          "cnn_dip_vae_ii/lambda_od=10/seed=0", "cnn_s2_vae/gamma=1/seed=0", "cnn_ar_vae/gamma=1/seed=0"]
    assert [n for n in names if n.startswith("rnn")] == [
        "rnn_beta_vae/beta=1/seed=0", "rnn_annealed_vae/capacity=50/seed=0", "rnn_factor_vae/gamma=10/seed=0"]
    by_name = {r.name: r for r in compressed.runs}
    assert by_name["cnn_annealed_vae/capacity=75/seed=0"].bindings == (
        "AnnealedVAE.capacity = 75.0", "train.seed = 0", "train.epochs = 10", "AnnealedVAE.warmup_epochs = 1",
        "AnnealedVAE.annealing_steps = 10000")
    assert by_name["rnn_beta_vae/beta=1/seed=0"].bindings[2:] == (
        "train.epochs = 5", "BetaVAE.warmup_epochs = 0.5", "BetaVAE.annealing_steps = 5000")
    assert by_name["cnn_factor_vae/gamma=50/seed=0"].bindings == ("FactorVAE.gamma = 50.0", "train.seed = 0",
                                                                   "train.epochs = 10")
    assert by_name["cnn_ar_vae/gamma=1/seed=0"].bindings == (
        "ARVAE.gamma = 1.0", "train.seed = 0", "train.epochs = 10", "ARVAE.warmup_epochs = 1",
        "ARVAE.annealing_steps = 10000")
    assert by_name["cnn_dip_vae_ii/lambda_od=10/seed=0"].method == "dip_vae_ii"
    assert compressed.metrics == ("paper", "mig", "modularity_explicitness", "sap_score", "controllability")
    assert len(sweep.preset("compressed", seeds=(0, 1, 2)).runs) == 51
    assert len(sweep.preset("paper").runs) == 54
    assert sweep.metric_file("paper", "factor_vae") == "paper_factor_vae"
    assert sweep.metric_file("paper", "beta_vae") == "paper" and sweep.metric_file("mig", "factor_vae") == "mig"


def test_the_reference_preset_is_the_compressed_study_with_three_seeds_and_two_more_budgets():
    """Every compressed point with seeds 0-2 under s=0.1/ or s=0.05/, the RNN's points also at the CNN's
    s = 0.1, and the CNN β-VAE grid at s = 0.3: 69 runs, each configured as its compressed twin."""
    reference = sweep.preset("reference")
    names = [r.name for r in reference.runs]
    assert len(names) == len(set(names)) == 17 * 3 + 3 * 3 + 3 * 3
    compressed = {r.name: r for r in sweep.preset("compressed", seeds=(0, 1, 2)).runs}
    for run in reference.runs:
        budget, name = run.name.split("/", 1)
        if budget == "s=0.3":
            assert run.bindings[2:] == ("train.epochs = 30", "BetaVAE.warmup_epochs = 3",
                                        "BetaVAE.annealing_steps = 30000")
        elif budget == "s=0.1" and name.startswith("rnn_"):
            assert run.bindings[2] == "train.epochs = 10" and name in compressed
        else:  # the compressed study's own runs, in their budget's folder
            assert run.bindings == compressed[name].bindings and run.gin_file == compressed[name].gin_file
            assert budget == ("s=0.05" if name.startswith("rnn_") else "s=0.1")
        assert run.method == compressed[name].method
    assert {n.split("/")[0] for n in names} == set(sweep.REFERENCE_BUDGETS)
    assert reference.metrics == sweep.preset("compressed").metrics
    assert len(sweep.preset("reference", seeds=(0,)).runs) == 23
    assert sweep.preset("reference").runs[0].model_dir("root") == os.path.join(
        "root", "s=0.1", "cnn_beta_vae", "beta=0.2", "seed=0")


def test_dsprites_runs_join_the_grid_on_request():
    runs = sweep.grid(architectures=sweep.ARCHITECTURES + ("dsprites",))
    dsprites = [r for r in runs if r.name.startswith("dsprites_")]
    assert len(runs) == 81 and len(dsprites) == 27
    assert all(os.path.isfile(r.gin_file) for r in dsprites)


def test_stack_groups_a_grid_points_runs_and_trains_them_as_one(tmp_path):
    runs = sweep.grid(architectures=("cnn",), methods=("beta_vae", "factor_vae"))
    groups = sweep.stacked_groups(runs, 4)
    # β-VAE's 9 runs (3 values × 3 seeds) in groups of at most 4; FactorVAE's one at a time.
    assert [len(g) for g in groups] == [4, 4, 1] + [1] * 9
    assert [r for g in groups for r in g] == runs
    assert sweep.stacked_groups(runs, 1) == [[r] for r in runs]
    command = sweep.stacked_command(groups[0], "/root", ["train.epochs = 1"])
    assert command[1:4] == ["-m", "benchmarks.stacked", f"--gin_file={runs[0].gin_file}"]
    assert "--member_bindings=BetaVAE.beta = 0.2; train.seed = 1" in command
    assert command.count("--gin_bindings=train.epochs = 1") == 1

    data_dir = tmp_path / "tensorflow_datasets"
    quick = ["TFDSSource.config = 'tiny'", f"TFDSSource.data_dir = '{data_dir}'", "train.epochs = 1",
             "train.steps_per_epoch = 2", "train.batch_size = 50", "train.verbose = 0"]
    args = [f"--root={tmp_path / 'runs'}", "--filter=cnn_annealed_vae/capacity=25/*", "--stack=3",
            *(f"--gin_bindings={b}" for b in quick)]
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
    assert "--stack and --parallel: for --backend=local only" in _sweep(*args, "--backend=ray").stderr


def test_parallel_runs_side_by_side_and_build_the_dataset_once(tmp_path):
    """Two runs at once on a fresh data folder: one builds the dataset while the other waits on its
    lock, both train, each one's output lands in its folder's sweep.log."""
    data_dir = tmp_path / "tensorflow_datasets"
    quick = ["TFDSSource.config = 'tiny'", f"TFDSSource.data_dir = '{data_dir}'", "train.epochs = 1",
             "train.steps_per_epoch = 2", "train.batch_size = 50", "train.verbose = 2"]
    args = [f"--root={tmp_path / 'runs'}", "--filter=cnn_beta_vae/beta=1/seed=0", "--filter=cnn_factor_vae/gamma=1/seed=0",
            "--parallel=2", "--metrics=none", *(f"--gin_bindings={b}" for b in quick)]
    process = _sweep(*args)
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    assert "done: cnn_beta_vae/beta=1/seed=0" in process.stdout
    assert "done: cnn_factor_vae/gamma=1/seed=0" in process.stdout
    for name in ("cnn_beta_vae/beta=1/seed=0", "cnn_factor_vae/gamma=1/seed=0"):
        folder = tmp_path / "runs" / name
        assert (folder / "results.json").exists()
        assert "test reconstruction accuracy" in (folder / "sweep.log").read_text()
    assert "--stack and --parallel: for --backend=local only" in _sweep(*args, "--backend=ray").stderr
