"""Runs per hour: one run at a time (``benchmarks.train``) against K runs stacked in one model
(``benchmarks.stacked``), measured side by side in one process, interleaved.

    python perf/stacked_throughput.py [--architectures cnn rnn] [--members 3 9] [--steps 40]
        [--repetitions 3] [--threads 0]

For each architecture (β-VAE, batch 512, the full dataset's train split) it builds one single run set up
as ``benchmarks.train`` sets it up (``perf/train_throughput.training_setup``: ``model.fit``, the run's
steps per call and per-batch callbacks) and, for each K in ``--members``, a stacked group of K members
(seeds 0..K-1) trained by ``benchmarks.stacked``'s step, callbacks left out (they cost a few Python
calls per member every few steps). It then times ``--steps`` steps of each in turn, ``--repetitions``
times, alternating, so that a change in the machine's load touches every configuration alike.

Per configuration it prints wall and CPU time per member-step (one run's step), the ratio of
member-steps per second to the single run's (the runs-per-hour gain: median and range over
repetitions), and the paper-length runs (100 epochs × 1,852 steps, training steps only: validation
and the test evaluation add about a tenth) that this rate finishes per hour. ``--threads`` 0 leaves
TensorFlow's defaults (all cores), as a plain ``benchmarks.train`` or ``benchmarks.stacked`` runs.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path[:0] = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.path.dirname(os.path.abspath(__file__))]

BATCH_SIZE = 512
STUDY_STEPS = 100 * 1852  # protocol §6: 100 epochs of the full train split at batch 512


def stacked_group(architecture: str, members: int, steps_per_epoch: int):
    """K β-VAE members with seeds 0..K-1, built as ``benchmarks.train`` builds a run, in one group."""
    import keras

    from benchmarks.models import ARCHITECTURES
    from benchmarks.objectives import OBJECTIVES
    from benchmarks.training.stacked import _Group

    runs = []
    for seed in range(members):
        keras.utils.set_random_seed(seed)
        arch = ARCHITECTURES[architecture]()
        model = OBJECTIVES["beta_vae"](arch, steps_per_epoch=steps_per_epoch)
        model.compile(optimizer=keras.optimizers.Adam(1e-4, epsilon=1e-8))
        model.build_optimizers()
        runs.append(types.SimpleNamespace(model=model, arch=arch))
    return _Group(runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--architectures", nargs="+", default=["cnn", "rnn"], choices=["cnn", "rnn"])
    parser.add_argument("--members", nargs="*", type=int, default=[3, 9],
                        help="stacked group sizes to time (none: the single run alone)")
    parser.add_argument("--steps", type=int, default=40, help="steps per timing (RNN: a quarter, at least 8)")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="intra- and inter-op threads (0: TensorFlow's default)")
    parser.add_argument("--config", default="full", help="dmelodies builder config of the train split")
    args = parser.parse_args()

    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from benchmarks.training import data
    from train_throughput import step_clock, training_setup

    train = data.TFDSSource(config=args.config).load("train")
    steps_per_epoch = data.epoch_steps(len(train), BATCH_SIZE)
    print(f"CPU: {os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"TensorFlow {tf.__version__}, threads {args.threads or 'default'}; batch {BATCH_SIZE}, β-VAE", flush=True)
    for architecture in args.architectures:
        steps = args.steps if architecture == "cnn" else max(8, args.steps // 4)
        timers = {}
        with tempfile.TemporaryDirectory() as log_dir:
            model, batches, run_callbacks = training_setup(architecture, "beta_vae", train, False, log_dir)
            per_call = getattr(model, "steps_per_execution", 1) or 1
            single_steps = per_call * -(-steps // per_call)
            clock = step_clock()
            model.fit(batches, epochs=1, steps_per_epoch=per_call, verbose=0, callbacks=run_callbacks, shuffle=False)

            def single():
                # Timed from the end of the first call to the end of the last, as perf/compare_original.py:
                # fit's own set-up (a new iterator, the epoch's shuffle) is not a training step.
                model.fit(batches, epochs=1, steps_per_epoch=single_steps + per_call, verbose=0,
                          callbacks=[*run_callbacks, clock], shuffle=False)
                return single_steps, clock.elapsed()

            timers[1] = single
            for members in args.members:
                group = stacked_group(architecture, members, steps_per_epoch)
                streams = tuple(data.training_batches(train, BATCH_SIZE, seed) for seed in range(members))
                iterator = iter(tf.data.Dataset.zip(streams))
                step = tf.function(group.train_step)
                step(next(iterator)).numpy()  # trace

                def stacked(step=step, iterator=iterator, members=members):
                    wall, cpu = time.perf_counter(), time.process_time()
                    for _ in range(steps):
                        values = step(next(iterator))
                    values.numpy()
                    return steps * members, (time.perf_counter() - wall, time.process_time() - cpu)

                timers[members] = stacked
            times = {key: [] for key in timers}
            for _ in range(args.repetitions):
                for key, timer in timers.items():
                    member_steps, (wall, cpu) = timer()
                    times[key].append((wall / member_steps, cpu / member_steps))
        print(f"\n{architecture} β-VAE: {'members':>8} {'wall ms':>9} {'CPU ms':>8}  (per member-step, median)"
              f"  member-steps/s gain over one at a time    paper-length runs per hour")
        base = times[1]
        for key, values in times.items():
            gains = [b[0] / v[0] for b, v in zip(base, values)]
            wall = statistics.median(v[0] for v in values)
            cpu = statistics.median(v[1] for v in values)
            runs_per_hour = 3600 / (STUDY_STEPS * wall)
            label = "1 (single)" if key == 1 else str(key)
            print(f"{'':12}{label:>10} {1000 * wall:9.2f} {1000 * cpu:8.2f}  {statistics.median(gains):5.2f}x "
                  f"(range {min(gains):.2f}-{max(gains):.2f}){'':17}{runs_per_hour:6.2f}", flush=True)
    print(f"\nload average afterwards {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
