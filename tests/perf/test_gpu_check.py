"""perf/gpu_check.py: the accelerator check runs end to end without TensorFlow, and its archives carry
runs that resume or score on another machine."""
import json
import os
import subprocess
import sys
import tarfile

import pytest

from helpers import REPO as REPOSITORY, load_script

SCRIPT = os.path.join(REPOSITORY, "perf", "gpu_check.py")


def test_archives_keep_each_runs_newest_checkpoint_and_unpack_only_inside_their_root(tmp_path):
    gpu_check = load_script("perf", "gpu_check")
    root = tmp_path / "runs"
    for point, seed, steps in (("cnn_beta_vae/beta=1", 0, (1000, 2000, 2500)), ("cnn_beta_vae/beta=1", 1, (1000,)),
                               ("s=0.1/rnn_beta_vae/beta=1", 2, (3000,))):
        folder = root / point / f"seed={seed}"
        (folder / "checkpoints").mkdir(parents=True)
        (folder / "config.gin").write_text("train.seed = %d\n" % seed)
        for step in steps:
            (folder / "checkpoints" / f"ckpt-{step}.npz").write_bytes(b"x")
    (root / "s=0.1/rnn_beta_vae/beta=1/seed=2/results.json").write_text("{}")  # finished: no checkpoint travels
    (tmp_path / "out").mkdir()
    archive, deeper = gpu_check.pack(str(root), str(tmp_path / "out"))
    assert os.path.basename(archive) == "runs-cnn_beta_vae_beta_1.tar.gz"
    assert os.path.basename(deeper) == "runs-s_0.1_rnn_beta_vae_beta_1.tar.gz"
    with tarfile.open(archive) as opened:
        names = sorted(n for n in opened.getnames() if "ckpt-" in n)
    assert names == ["cnn_beta_vae/beta=1/seed=0/checkpoints/ckpt-2500.npz",
                     "cnn_beta_vae/beta=1/seed=1/checkpoints/ckpt-1000.npz"]
    with tarfile.open(deeper) as opened:
        assert "s=0.1/rnn_beta_vae/beta=1/seed=2/results.json" in opened.getnames()
        assert not [n for n in opened.getnames() if "ckpt-" in n]
    assert gpu_check.grid_state(str(root))["cnn_beta_vae/beta=1/seed=0"] == {"finished": False,
                                                                             "newest_checkpoint_step": 2500}

    assert gpu_check.unpack(str(tmp_path / "out"), str(tmp_path / "elsewhere")) == [os.path.basename(archive),
                                                                                     os.path.basename(deeper)]
    assert (tmp_path / "elsewhere" / "cnn_beta_vae" / "beta=1" / "seed=1" / "config.gin").read_text() == "train.seed = 1\n"

    hostile = tmp_path / "hostile"
    hostile.mkdir()
    with tarfile.open(hostile / "runs-evil.tar.gz", "w:gz") as opened:
        opened.add(str(tmp_path / "elsewhere" / "cnn_beta_vae" / "beta=1" / "seed=1" / "config.gin"),
                   arcname="../../escaped.gin")
    with pytest.raises(tarfile.OutsideDestinationError):
        gpu_check.unpack(str(hostile), str(tmp_path / "target"))
    assert not (tmp_path / "escaped.gin").exists()


@pytest.mark.slow
@pytest.mark.integration
def test_the_check_runs_without_tensorflow_and_its_runs_resume_and_score_elsewhere(tmp_path):
    """The tiny check on this CPU, with TensorFlow, TFDS and disentanglement_lib unimportable in every
    process (as on the GPU machine); then its archives resume (both runs finished: nothing to train) and
    one run scores here."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nfor name in ('tensorflow', 'tensorflow_datasets', 'disentanglement_lib'):\n"
        "    sys.modules[name] = None\n")
    env = dict(os.environ, OUT=str(tmp_path / "out"), PYTHONPATH=f"{blocker}{os.pathsep}{REPOSITORY}")
    runs = ["--filter=cnn_beta_vae/beta=1/seed=0", "--filter=cnn_beta_vae/beta=4/seed=1"]
    command = ["bash", os.path.join(REPOSITORY, "perf", "gpu_check.sh"), "--tiny", "--members", "2",
               "--parallel", "2", "--seconds", "1200", "--work", str(tmp_path / "work"), *runs]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == ["runs-cnn_beta_vae_beta_1.tar.gz", "runs-cnn_beta_vae_beta_4.tar.gz",
                                       "sweep.log", "timings.json"]
    timings = json.loads((out / "timings.json").read_text())
    assert set(timings["cnn"]) == {"single", "stacked_x2"} and timings["cnn"]["stacked_x2"]["models"] == 2
    assert timings["rnn"] == "skipped: the timings' share of the budget was spent" or timings["rnn"]["stacked_x2"]["models"] == 2
    assert timings["grid"]["exit_code"] == 0
    assert all(state["finished"] for state in timings["grid"]["runs"].values()), timings["grid"]

    again = subprocess.run([*command[:-len(runs) - 2], "--work", str(tmp_path / "again"), "--resume_from", str(out),
                            "--skip_timings", *runs], env=dict(env, OUT=str(tmp_path / "out2")),
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming: runs-cnn_beta_vae_beta_1.tar.gz, runs-cnn_beta_vae_beta_4.tar.gz" in again.stdout

    here = tmp_path / "here"
    subprocess.run([sys.executable, SCRIPT, "--unpack", str(out), "--root", str(here)], check=True, timeout=120)
    run = here / "cnn_beta_vae" / "beta=4" / "seed=1"
    assert json.loads((run / "results.json").read_text())["backend"] == "jax"
    scored = subprocess.run(
        [sys.executable, "-m", "benchmarks.evaluate", f"--model_dir={run}",
         f"--gin_file={os.path.join(REPOSITORY, 'gin_configs', 'metrics', 'mig.gin')}",
         "--gin_bindings=mig.num_train = 200"],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=600)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert 0.0 <= json.loads((run / "metrics" / "mig.json").read_text())["discrete_mig"] <= 1.0
