r"""The paper's benchmark grid (SPEC §6): 2 architectures × 3 methods × 3 values × 3 seeds = 54 runs.

    python -m benchmarks.sweep --root=runs [--dry_run] [--filter=cnn_beta_vae] [--gin_bindings=...]

Runs go one after another, each in its own process, under
``ROOT/<architecture>_<method>/<hyperparameter>=<value>/seed=<seed>/``. Because every run resumes from
its checkpoints and returns a finished run's results, rerunning the sweep skips what is done and
continues what was interrupted. ``--dsprites`` adds the dSprites comparison runs (they need TFDS's
``dsprites`` data, which must already be prepared).
"""
from __future__ import annotations

import dataclasses
import fnmatch
import os
import subprocess
import sys
from typing import Sequence

from absl import app, flags

GIN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gin_configs")
ARCHITECTURES = ("cnn", "rnn")
# method: (configurable holding the hyperparameter, its name in the run layout, the paper's values)
METHODS = {
    "beta_vae": ("BetaVAE", "beta", (0.2, 1.0, 4.0)),
    "annealed_vae": ("AnnealedVAE", "capacity", (25.0, 50.0, 75.0)),
    "factor_vae": ("FactorVAE", "gamma", (1.0, 10.0, 50.0)),
}
SEEDS = (0, 1, 2)


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run: its gin file, the bindings that pick its grid point, and where it goes."""

    name: str  # "<architecture>_<method>/<hyperparameter>=<value>/seed=<seed>"
    gin_file: str
    bindings: tuple[str, ...]

    def model_dir(self, root: str) -> str:
        return os.path.join(root, *self.name.split("/"))

    def command(self, root: str, extra_bindings: Sequence[str] = ()) -> list[str]:
        return [sys.executable, "-m", "benchmarks.train", f"--gin_file={self.gin_file}",
                *(f"--gin_bindings={b}" for b in (*self.bindings, *extra_bindings)),
                f"--model_dir={self.model_dir(root)}"]


def grid(gin_dir: str = GIN_DIR, architectures: Sequence[str] = ARCHITECTURES, seeds: Sequence[int] = SEEDS) -> list[Run]:
    """The runs of the paper's grid, architecture by architecture, method by method."""
    runs = []
    for architecture in architectures:
        for method, (configurable, hyperparameter, values) in METHODS.items():
            for value in values:
                for seed in seeds:
                    runs.append(Run(
                        name=f"{architecture}_{method}/{hyperparameter}={value:g}/seed={seed}",
                        gin_file=os.path.join(gin_dir, f"{architecture}_{method}.gin"),
                        bindings=(f"{configurable}.{hyperparameter} = {value!r}", f"train.seed = {seed}"),
                    ))
    return runs


def matches(run: Run, patterns: Sequence[str]) -> bool:
    """True when ``run.name`` matches any pattern: a shell glob, or a plain substring."""
    return not patterns or any(
        fnmatch.fnmatch(run.name, p) if any(c in p for c in "*?[") else p in run.name for p in patterns
    )


def status(run: Run, root: str) -> str:
    model_dir = run.model_dir(root)
    if os.path.exists(os.path.join(model_dir, "results.json")):
        return "finished"
    return "interrupted" if os.path.isdir(os.path.join(model_dir, "checkpoints")) else "new"


def define_flags() -> None:
    """Defines the command-line flags; only when run as a program, so importing this module for its
    functions never collides with another module's flags of the same name."""
    flags.DEFINE_string("root", None, "Folder under which every run gets its own --model_dir.")
    flags.DEFINE_bool("dry_run", False, "Only list the runs, their status and their commands.")
    flags.DEFINE_multi_string("filter", [], "Keep the runs whose name matches (substring or glob); repeatable.")
    flags.DEFINE_multi_string("gin_bindings", [], "Extra bindings for every run, e.g. train.epochs=1.")
    flags.DEFINE_bool("dsprites", False, "Add the dSprites comparison runs (needs TFDS's dsprites data).")
    flags.DEFINE_string("gin_dir", GIN_DIR, "Folder of the <architecture>_<method>.gin files.")
    flags.mark_flag_as_required("root")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    FLAGS = flags.FLAGS
    architectures = ARCHITECTURES + (("dsprites",) if FLAGS.dsprites else ())
    runs = [r for r in grid(FLAGS.gin_dir, architectures) if matches(r, FLAGS.filter)]
    if not runs:
        raise SystemExit(f"error: no run matches --filter={FLAGS.filter}")
    failed = []
    for number, run in enumerate(runs, start=1):
        state = status(run, FLAGS.root)
        print(f"[{number}/{len(runs)}] {run.name}: {state}", flush=True)
        command = run.command(FLAGS.root, FLAGS.gin_bindings)
        if FLAGS.dry_run:
            print("  " + subprocess.list2cmdline(command), flush=True)
        elif state != "finished" and subprocess.run(command).returncode:
            failed.append(run.name)
    if failed:
        raise SystemExit(f"error: {len(failed)} run(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
