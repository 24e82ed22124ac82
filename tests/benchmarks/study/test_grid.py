"""The sweep's grid spells out protocol §6's 54-run grid and lays runs out for the report; the presets and
filters select from it (benchmarks.study.grid, methods, suites)."""
import os
import re

from benchmarks.study import grid
from benchmarks.study import methods
from benchmarks.study import suites


def test_the_grid_is_the_papers():
    runs = grid.grid()
    assert len(runs) == 54 == len({r.name for r in runs})
    layout = re.compile(r"(cnn|rnn)_(beta_vae/beta|annealed_vae/capacity|factor_vae/gamma)=[0-9.]+/seed=[012]")
    assert all(layout.fullmatch(r.name) for r in runs)
    assert all(os.path.isfile(r.gin_file) for r in runs)
    values = {m: sorted({r.name.split("/")[1] for r in runs if f"_{m}/" in r.name}) for m in methods.PAPER_METHODS}
    assert values == {"beta_vae": ["beta=0.2", "beta=1", "beta=4"],
                      "annealed_vae": ["capacity=25", "capacity=50", "capacity=75"],
                      "factor_vae": ["gamma=1", "gamma=10", "gamma=50"]}
    run = next(r for r in runs if r.name == "rnn_factor_vae/gamma=50/seed=2")
    assert run.bindings == ("FactorVAE.gamma = 50.0", "train.seed = 2")
    assert run.model_dir("/root") == "/root/rnn_factor_vae/gamma=50/seed=2"


def test_filters_take_substrings_and_globs():
    runs = grid.grid()
    assert len([r for r in runs if grid.matches(r, ["cnn_beta_vae"])]) == 9
    assert len([r for r in runs if grid.matches(r, ["*/seed=0"])]) == 18
    assert len([r for r in runs if grid.matches(r, ["rnn_*/gamma=1/*", "cnn_annealed_vae/capacity=25"])]) == 6


def test_the_compressed_preset_scales_every_schedule_by_one_factor():
    """s = 0.1 for the 9 CNN grid points, s = 0.05 for three RNN points: epochs 100·s, warm-up 10·s
    epochs, annealing 100,000·s steps (FactorVAE has only epochs); one CNN value of each method beyond
    the paper at s = 0.1."""
    compressed = grid.preset("compressed")
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
    assert len(grid.preset("compressed", seeds=(0, 1, 2)).runs) == 51
    assert len(grid.preset("paper").runs) == 54
    assert suites.metric_file("paper", "factor_vae") == "paper_factor_vae"
    assert suites.metric_file("paper", "beta_vae") == "paper" and suites.metric_file("mig", "factor_vae") == "mig"


def test_the_reference_preset_is_the_compressed_study_with_three_seeds_and_two_more_budgets():
    """Every compressed point with seeds 0-2 under s=0.1/ or s=0.05/, the RNN's points also at the CNN's
    s = 0.1, and the CNN β-VAE grid at s = 0.3: 69 runs, each configured as its compressed twin."""
    reference = grid.preset("reference")
    names = [r.name for r in reference.runs]
    assert len(names) == len(set(names)) == 17 * 3 + 3 * 3 + 3 * 3
    compressed = {r.name: r for r in grid.preset("compressed", seeds=(0, 1, 2)).runs}
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
    assert {n.split("/")[0] for n in names} == set(grid.REFERENCE_BUDGETS)
    assert reference.metrics == grid.preset("compressed").metrics
    assert len(grid.preset("reference", seeds=(0,)).runs) == 23
    assert grid.preset("reference").runs[0].model_dir("root") == os.path.join(
        "root", "s=0.1", "cnn_beta_vae", "beta=0.2", "seed=0")


def test_dsprites_runs_join_the_grid_on_request():
    runs = grid.grid(architectures=grid.ARCHITECTURES + ("dsprites",))
    dsprites = [r for r in runs if r.name.startswith("dsprites_")]
    assert len(runs) == 81 and len(dsprites) == 27
    assert all(os.path.isfile(r.gin_file) for r in dsprites)
