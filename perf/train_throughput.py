"""Training throughput: steps/s at batch 512 on this machine for each architecture × method,
beside the input pipeline's throughput.

    python perf/train_throughput.py [--steps 60] [--config full|tiny] [--data_dir DIR] [--jit_compile]

Each model is built and compiled exactly as ``benchmarks.train`` builds it (same objective classes, Adam,
``jit_compile=False``, the run's per-batch callbacks: the NaN guard and the TensorBoard logger), fed by
the same in-memory ``tf.data`` pipeline from the TFDS train split. The first five steps (tracing and warm-up) are not
timed. Absolute figures depend on the machine and its load: compare with the original PyTorch code only
as ratios measured in one run, interleaved (``perf/compare_original.py``).
"""
import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BATCH_SIZE = 512
LOG_EVERY_STEPS, CHECKPOINT_EVERY_STEPS = 100, 1000  # benchmarks.train's defaults


def pipeline_throughput(train, batches=500):
    """Batches/s the training pipeline delivers on its own (gather + prefetch), after one warm-up batch."""
    from benchmarks.training import data

    iterator = iter(data.training_batches(train, BATCH_SIZE, seed=0))
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches / (time.perf_counter() - start)


def training_setup(architecture, method, train, jit_compile, log_dir):
    """The model, its batches and the run's per-batch callbacks (the NaN guard and the TensorBoard
    logger), set up as ``benchmarks.train`` sets them up, with seed 0."""
    import keras

    from benchmarks.training import callbacks, data
    from benchmarks.models import ARCHITECTURES
    from benchmarks.objectives import OBJECTIVES

    from benchmarks.training.run import default_steps_per_execution

    keras.utils.set_random_seed(0)
    steps_per_epoch = data.epoch_steps(len(train), BATCH_SIZE)
    model = OBJECTIVES[method](ARCHITECTURES[architecture](), steps_per_epoch=steps_per_epoch)
    model.compile(optimizer=keras.optimizers.Adam(1e-4, epsilon=1e-8), jit_compile=jit_compile,
                  steps_per_execution=default_steps_per_execution(steps_per_epoch, LOG_EVERY_STEPS, CHECKPOINT_EVERY_STEPS))
    model.build_optimizers()
    run_callbacks = [callbacks.StopOnNonFiniteLoss(log_dir), callbacks.TensorBoardLogger(log_dir, LOG_EVERY_STEPS, 0)]
    return model, data.training_batches(train, BATCH_SIZE, seed=0), run_callbacks


def step_clock():
    """A Keras callback noting wall and CPU time at the end of each call into the training step; its
    ``elapsed()`` is (wall, CPU) seconds from the first such end to the last, so ``fit``'s own set-up
    (a new iterator, the epoch's shuffle) and the first call are left out."""
    import keras

    class StepClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.stamps = []

        def on_train_batch_end(self, batch, logs=None):
            self.stamps.append((time.perf_counter(), time.process_time()))

        def elapsed(self) -> tuple[float, float]:
            (wall0, cpu0), (wall1, cpu1) = self.stamps[0], self.stamps[-1]
            return wall1 - wall0, cpu1 - cpu0

    return StepClock()


def training_throughput(architecture, method, train, steps, jit_compile, log_dir):
    """Steps/s of ``model.fit`` with the run's per-batch callbacks, and the CPU ms each step costs."""
    model, batches, run_callbacks = training_setup(architecture, method, train, jit_compile, log_dir)
    per_call = model.steps_per_execution
    model.fit(batches, epochs=1, steps_per_epoch=per_call * -(-5 // per_call), verbose=0, callbacks=run_callbacks,
              shuffle=False)
    steps = per_call * -(-steps // per_call)  # whole calls
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=run_callbacks, shuffle=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return steps / wall, 1000 * cpu / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="timed steps per model (RNN: a third of them)")
    parser.add_argument("--config", default="full", help="dmelodies builder config to read the train split from")
    parser.add_argument("--data_dir", help="TFDS data_dir (default: TFDS's)")
    parser.add_argument("--architectures", nargs="+", default=["cnn", "rnn"])
    parser.add_argument("--methods", nargs="+", default=["beta_vae", "annealed_vae", "factor_vae"])
    parser.add_argument("--jit_compile", action="store_true", help="compile the steps with XLA")
    args = parser.parse_args()

    import tensorflow as tf

    from benchmarks.training import data

    print(f"CPU: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (other work shares them); "
          f"TensorFlow {tf.__version__}, intra-op threads {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}")
    start = time.perf_counter()
    train = data.TFDSSource(config=args.config, data_dir=args.data_dir).load("train")
    read = time.perf_counter() - start
    print(f"TFDS read of dmelodies/{args.config} train: {len(train):,} examples in {read:.1f} s "
          f"({len(train) / read:,.0f} examples/s, once per run)")
    supply = pipeline_throughput(train)
    print(f"input pipeline: {supply:,.0f} batches/s of {BATCH_SIZE}")
    print(f"{'model':<18} {'steps/s':>8} {'ms/step':>8} {'CPU ms/step':>12} {'of pipeline':>12}")
    with tempfile.TemporaryDirectory() as log_dir:
        for architecture in args.architectures:
            for method in args.methods:
                steps = args.steps if architecture == "cnn" else max(5, args.steps // 3)
                rate, cpu_ms = training_throughput(architecture, method, train, steps, args.jit_compile,
                                                   os.path.join(log_dir, f"{architecture}_{method}"))
                print(f"{architecture + ' ' + method:<18} {rate:8.1f} {1000 / rate:8.1f} {cpu_ms:12.0f} "
                      f"{rate / supply:11.2%}", flush=True)


if __name__ == "__main__":
    main()
