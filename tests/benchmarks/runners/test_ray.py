"""The sweep on Ray (benchmarks.runners.ray) and one run by its index (benchmarks.train_one).

Each Ray sweep starts a real local Ray instance of 2 CPUs and stops it when done, or joins one that a test
started; runs are tiny (the `tiny` dMelodies config, a few steps of small batches). The tests of the
four-run grid take about four minutes together and are marked slow (``--run-slow`` runs them); the
killed-and-retried sweep and the shared-storage check run every time.
"""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from helpers import QUIET_TENSORFLOW, REPO, gin_flags, module_command, run_module, subprocess_env, tiny_bindings

pytestmark = pytest.mark.integration
FOUR = ["cnn_beta_vae/beta=0.2/seed=0", "cnn_beta_vae/beta=1/seed=0", "cnn_beta_vae/beta=4/seed=0",
        "cnn_factor_vae/gamma=10/seed=0"]


def quick(data_dir, **overrides):
    """Flags for a run of a few steps on dmelodies/tiny, scored with nothing (a later --metrics wins)."""
    return ["--metrics=none", *gin_flags(tiny_bindings(data_dir, **overrides))]


def selection(names):
    return [f"--filter={name}" for name in names]


def cli(module, *args, **environment):
    return run_module(module, *args, **environment)


def ray_sweep(root, *args):
    return ["benchmarks.sweep", f"--root={root}", "--runner=ray", "--ray_num_cpus=2", *args]


def results(root, name):
    with open(os.path.join(root, name, "results.json")) as file:
        return json.load(file)


def stamps(root):
    """{file: modification time} of every file under ``root``."""
    return {path: os.stat(path).st_mtime_ns for path in glob.glob(os.path.join(root, "**"), recursive=True)
            if os.path.isfile(path)}


def flat(value, prefix=""):
    """{path: leaf} of a results dict."""
    if isinstance(value, dict):
        return {key: leaf for k, item in value.items() for key, leaf in flat(item, f"{prefix}/{k}").items()}
    return {prefix: value}


@pytest.fixture(scope="module")
def four_runs(data_dir, tmp_path_factory):
    """A Ray sweep of 4 tiny runs: (root, completed process)."""
    root = tmp_path_factory.mktemp("ray_runs")
    return root, cli(*ray_sweep(root, *selection(FOUR), *quick(data_dir)))


@pytest.mark.slow
def test_a_grid_of_four_runs_completes_on_ray(four_runs):
    root, process = four_runs
    assert process.returncode == 0, process.stderr[-3000:]
    for index, name in enumerate(FOUR):
        assert results(root, name)["steps"] == 6
        assert f"[{index}] {name}: started on " in process.stdout
        assert f"[{index}] {name}: done: " in process.stdout
    assert process.stdout.rstrip().endswith("4 done, 0 skipped, 0 failed")
    assert not glob.glob(os.path.join(root, ".ray-sweep-*")), "the storage check's file was left behind"


@pytest.mark.slow
def test_finished_runs_are_skipped_and_another_configuration_is_refused(four_runs, data_dir, tmp_path):
    root, _ = four_runs
    shutil.copytree(os.path.join(root, FOUR[3]), tmp_path / FOUR[3])  # finished, the same configuration
    shutil.copytree(os.path.join(root, FOUR[0]), tmp_path / FOUR[1])  # finished with β = 0.2 where β = 1 is asked
    before = stamps(tmp_path)
    again = cli(*ray_sweep(tmp_path, *selection([FOUR[1], FOUR[3]]), *quick(data_dir)))
    assert again.returncode != 0
    assert f"[1] {FOUR[3]}: skipped: finished before, with the same configuration" in again.stdout
    assert (f"[0] {FOUR[1]}: failed: benchmarks.train: error: {tmp_path / FOUR[1]} holds a run with a "
            "different configuration") in again.stdout
    assert "+BetaVAE.beta = 1.0" in again.stdout  # the whole error, in the progress line
    assert again.stdout.rstrip().endswith("0 done, 1 skipped, 1 failed")
    assert f"error: 1 run(s) failed: {FOUR[1]}" in again.stderr
    assert stamps(tmp_path) == before  # nothing rewritten


@pytest.mark.slow
def test_the_local_and_ray_backends_give_the_same_results(four_runs, data_dir, tmp_path):
    """The same run, trained by the local sweep: the same numbers (the training tests' tolerance)."""
    ray_root, _ = four_runs
    name = FOUR[3]
    local = cli("benchmarks.sweep", f"--root={tmp_path}", *selection([name]), *quick(data_dir))
    assert local.returncode == 0, local.stderr[-3000:]
    expected, found = flat(results(ray_root, name)), flat(results(tmp_path, name))
    del expected["/wall_time_s"], found["/wall_time_s"]
    assert {"/test_loss", "/test_reconstruction_accuracy", "/test_metrics/kl", "/steps"} <= found.keys()
    # Numbers to the tolerance, everything else (method, dataset, ...) exactly: pytest >= 9.2's approx
    # refuses a mapping that holds strings.
    assert found.keys() == expected.keys()
    numeric = {key for key, value in expected.items() if isinstance(value, (int, float)) and not isinstance(value, bool)}
    assert {key: found[key] for key in numeric} == pytest.approx({key: expected[key] for key in numeric},
                                                                 rel=1e-4, abs=1e-4)
    assert {key: found[key] for key in found.keys() - numeric} == {key: expected[key] for key in expected.keys() - numeric}


@pytest.mark.slow
def test_list_and_model_num_index_the_same_runs(four_runs, data_dir, tmp_path):
    """An index depends on the selection flags only, not on what the root holds."""
    root, _ = four_runs
    listed = [cli("benchmarks.sweep", f"--root={r}", *selection(FOUR), "--list") for r in (root, tmp_path)]
    assert listed[0].stdout == listed[1].stdout == "".join(f"{i} {name}\n" for i, name in enumerate(FOUR))
    assert len(cli("benchmarks.sweep", "--root=x", "--list").stdout.splitlines()) == 54

    before = stamps(root)
    one = cli("benchmarks.train_one", f"--root={root}", *selection(FOUR), *quick(data_dir), "--model_num=3")
    assert one.returncode == 0, one.stderr[-3000:]
    assert one.stdout == f"[3] {FOUR[3]}: finished\n" and stamps(root) == before

    beyond = cli("benchmarks.train_one", f"--root={root}", *selection(FOUR), "--model_num=4")
    assert beyond.returncode != 0
    assert "error: --model_num=4 is out of range: these flags select 4 run(s), numbered from 0" in beyond.stderr


# A cluster's head, as `ray start --head` starts one, in its own process (Ray stays out of the test process):
# prints its address, stops when its standard input closes. It authenticates with Ray's token
# (~/.ray/auth_token): the sweeps that join it set RAY_AUTH_MODE=token.
HEAD = """import sys, ray
context = ray.init(address="local", num_cpus=2, object_store_memory=100 * 2**20, include_dashboard=False)
print(context.address_info["gcs_address"], flush=True)
sys.stdin.read()
"""


@pytest.fixture
def ray_cluster():
    """The address of a Ray instance of 2 CPUs that the sweeps join."""
    head = subprocess.Popen([sys.executable, "-c", HEAD], cwd=REPO, text=True, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        address = head.stdout.readline().strip()
        assert address, "the Ray head did not start (see benchmarks/runners/ray.py; its own log under RAY_TMPDIR)"
        yield address
    finally:
        head.stdin.close()
        head.wait(timeout=120)


def test_storage_that_not_every_node_sees_is_refused(ray_cluster, tmp_path):
    on_cluster = ["benchmarks.sweep", "--runner=ray", f"--address={ray_cluster}",
                  "--filter=cnn_beta_vae/beta=1/seed=0"]
    relative = cli(*on_cluster, "--root=runs", RAY_AUTH_MODE="token")
    assert relative.returncode != 0 and "error: --root=runs is relative" in relative.stderr
    # The node check looks for the runs' gin files too: a folder the node lacks stops the sweep before any run.
    missing = cli(*on_cluster, f"--root={tmp_path}", f"--gin_dir={tmp_path / 'elsewhere'}", RAY_AUTH_MODE="token")
    assert missing.returncode != 0
    assert f"does not see {tmp_path / 'elsewhere' / 'cnn_beta_vae.gin'}" in missing.stderr
    assert "started" not in missing.stdout and os.listdir(tmp_path) == []
    local = cli("benchmarks.sweep", f"--root={tmp_path}", "--cpus_per_run=2", "--list")
    assert local.returncode == 0  # --list ignores the backend
    local = cli("benchmarks.sweep", f"--root={tmp_path}", "--cpus_per_run=2", "--dry_run")
    assert local.returncode != 0 and "error: --cpus_per_run: for --runner=ray only" in local.stderr


def _parent(pid):
    with open(f"/proc/{pid}/stat") as file:
        return int(file.read().rsplit(")", 1)[1].split()[1])


def _training(model_dir, sweep, ready, other_than=None):
    """The pid of the process training in ``model_dir`` once ``ready()`` holds, from the lock file that
    benchmarks.train holds while it trains ("pid N"), and not ``other_than``. Generous: on a loaded machine,
    starting Ray, a Ray worker and TensorFlow before the first checkpoint has taken over 5 minutes."""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        assert sweep.poll() is None, sweep.communicate()
        lock = model_dir / ".lock"
        text = lock.read_text() if ready() and lock.exists() else ""  # empty while being rewritten
        if text.startswith("pid ") and int(text.split()[1]) != other_than:
            return int(text.split()[1])
        time.sleep(0.02)
    raise AssertionError(f"no training in {model_dir}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the processes through /proc")
def test_killed_runs_are_retried_and_resume(data_dir, tmp_path):
    """After the run's first checkpoint its training process is killed (as the out-of-memory killer would),
    then, in the retried task, the task's Ray worker itself: Ray runs the task again each time, the run
    resumes from its checkpoints, finishes and is scored."""
    name = FOUR[3]
    bindings = quick(data_dir, **{"train.epochs": 4, "train.steps_per_epoch": 40, "train.batch_size": 64,
                                  "train.checkpoint_every_steps": 5})
    sweep = subprocess.Popen(module_command(*ray_sweep(tmp_path, *selection([name]), *bindings, "--metrics=mig")),
                             cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=subprocess_env(**QUIET_TENSORFLOW))
    model_dir = tmp_path / name
    try:
        first = _training(model_dir, sweep, (model_dir / "checkpoints" / "checkpoint").exists)
        with open(f"/proc/{first}/environ") as file:
            assert "CUDA_VISIBLE_DEVICES=" in file.read().split("\0")  # no GPU for a run given none
        os.kill(first, signal.SIGKILL)
        second = _training(model_dir, sweep, lambda: True, other_than=first)
        worker = _parent(second)
        with open(f"/proc/{worker}/cmdline") as file:
            assert file.read().startswith("ray::"), "the training's parent is not a Ray worker"
        os.kill(worker, signal.SIGKILL)
        assert not (model_dir / "results.json").exists(), "the run finished before its worker could be killed"
        stdout, stderr = sweep.communicate(timeout=600)
    finally:
        sweep.kill()
    assert sweep.returncode == 0, stderr[-3000:]
    started = [line for line in stdout.splitlines() if line.startswith(f"[0] {name}: started on ")]
    assert [line.rsplit(" ", 1)[1] for line in started] == ["(new)", "(interrupted)", "(interrupted)"], stdout
    assert results(tmp_path, name)["steps"] == 160
    assert sorted(os.listdir(model_dir / "metrics")) == ["mig.gin", "mig.json"]
    assert glob.glob(os.path.join(tmp_path, "**", "results.json"), recursive=True) == [str(model_dir / "results.json")]
    assert stdout.rstrip().endswith("1 done, 0 skipped, 0 failed")
