r"""Trains and scores one run of a sweep, picked by its index: the entry point of a job array.

    python -m benchmarks.sweep --root=runs --preset=compressed --list        # "2 cnn_beta_vae/beta=4/seed=0", …
    python -m benchmarks.train_one --root=runs --preset=compressed --model_num=2

As disentanglement_lib's ``dlib_reproduce --model_num``. It takes the sweep's selection flags (``--preset``,
``--methods``, ``--filter``, ``--seeds``, ``--dsprites``, ``--gin_bindings``, ``--metrics``): the same flags
pick the same runs in the same order, so index N is the run ``--list`` prints as N. The run is handled as
the local sweep handles it (:func:`benchmarks.sweep.run_commands`): trained or resumed, returned at once
when finished with the same configuration, refused when finished with another, then scored with the
metric configs it lacks: the preset's, or disentanglement_lib's standard suite (``--metrics=none``: none).
"""
from __future__ import annotations

from absl import app, flags

from benchmarks import sweep


def define_flags() -> None:
    """The sweep's selection flags and ``--model_num``."""
    sweep.define_selection_flags()
    flags.adopt_module_key_flags(sweep)  # --help lists them
    flags.DEFINE_integer("model_num", None, "Index of the run among the selected runs, as "
                         "`python -m benchmarks.sweep --list` prints it with the same flags (from 0).")
    flags.mark_flag_as_required("model_num")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    FLAGS = flags.FLAGS
    try:
        runs, metrics = sweep.selected_runs(FLAGS)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    if not 0 <= FLAGS.model_num < len(runs):
        raise SystemExit(f"error: --model_num={FLAGS.model_num} is out of range: these flags select "
                         f"{len(runs)} run(s), numbered from 0 (see `python -m benchmarks.sweep --list`)")
    run = runs[FLAGS.model_num]
    print(f"[{FLAGS.model_num}] {run.name}: {sweep.status(run, FLAGS.root)}", flush=True)
    if sweep.execute(sweep.run_commands(run, FLAGS.root, FLAGS.gin_bindings, metrics)) is not None:
        raise SystemExit(f"error: run {FLAGS.model_num} ({run.name}) failed")


if __name__ == "__main__":
    from dmelodies_tfds.text import plain_text

    __doc__ = plain_text(__doc__)  # absl's --help shows the module docstring: plain text, not reST
    define_flags()
    app.run(main)
