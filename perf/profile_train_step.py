"""Where a training step's time goes, for the models as ``benchmarks.train`` trains them (batch 512).

    python perf/profile_train_step.py [--models cnn:beta_vae rnn:beta_vae] [--steps 20] [--threads 1]
        [--top 12] [--trace_dir DIR]

Two views, each per model (``perf/PROFILE.md`` records what they showed):

- Phases: the same step cut short, each cut compiled as one ``tf.function`` and timed alone (median of
  five timings of ``--steps`` calls; CPU time, which a loaded machine does not inflate): the forward
  pass and loss; forward and gradients; the whole step as Keras compiles it (Adam included); and
  ``model.fit`` with the run's per-batch callbacks. Successive differences are the phases' costs:
  backward, optimiser, and what ``fit`` and the callbacks add per step. The cuts follow the generic
  ``VAE.train_step``; FactorVAE trains its VAE on half of each batch and adds a discriminator step, so
  for it only the last row is its step.
- Ops: a TensorFlow profiler trace (``tf.profiler.experimental``) of ``--steps`` steps of ``model.fit``,
  whose TensorFlow op events are summed by op type and by the phase and layer that issued them. Times are self
  times (an op's children on the same thread are subtracted), summed over threads, per step; shares are
  of the total op time. The trace stays in ``--trace_dir`` for TensorBoard's profile plugin when given.
"""
from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path[:0] = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.path.dirname(os.path.abspath(__file__))]

REPETITIONS = 5
# A TensorFlow op event is named "<op name>:<op type>", sometimes followed by "#key=value,...#".
_OP_EVENT = re.compile(r"^(?P<name>[^:#]+):(?P<type>[A-Za-z0-9_]+)(#.*)?$")
# Name scopes of the models themselves (Keras numbers repeated calls: "cnn_encoder_1"), above the layers.
_MODEL_SCOPES = {"cnn_encoder", "cnn_decoder", "rnn_encoder", "rnn_decoder", "rnn_teacher_forced_decoder",
                 "hierarchical_decoder", "discriminator"}


def _wait(outputs):
    """Reads every output back, so the timed call has finished (embedding gradients are IndexedSlices)."""
    import tensorflow as tf

    for output in tf.nest.flatten(outputs):
        getattr(output, "values", output).numpy()


def _median_cpu_ms(function, steps: int) -> float:
    """Median over repetitions of the CPU ms per call of ``function`` (called ``steps`` times each)."""
    timings = []
    for _ in range(REPETITIONS):
        start = time.process_time()
        for _ in range(steps):
            function()
        timings.append(1000 * (time.process_time() - start) / steps)
    return statistics.median(timings)


def phases(model, batches, run_callbacks, steps: int) -> dict[str, float]:
    """CPU ms per step of the step's successive cuts (see the module docstring)."""
    import tensorflow as tf

    tokens = next(iter(batches))
    weights = model.vae_weights

    @tf.function
    def forward():
        return model.objective(model.terms(tokens, training=True), model.optimizer.iterations)[0]

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            loss = model.objective(model.terms(tokens, training=True), model.optimizer.iterations)[0]
        return tape.gradient(loss, weights)

    iterator = iter(batches)
    model.make_train_function()

    def train_step():  # Keras' compiled step (forward, backward, Adam, metrics), fed by the pipeline
        return model.train_function(iterator)

    def fit():
        model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=run_callbacks, shuffle=False)

    for function in (forward, forward_backward, train_step):
        _wait(function())  # trace and warm up
    cuts = {
        "forward + loss": _median_cpu_ms(lambda: _wait(forward()), steps),
        "+ gradients": _median_cpu_ms(lambda: _wait(forward_backward()), steps),
        "+ Adam, metrics (Keras' step)": _median_cpu_ms(lambda: _wait(train_step()), steps),
    }
    fit()
    timings = []
    for _ in range(REPETITIONS):
        start = time.process_time()
        fit()
        timings.append(1000 * (time.process_time() - start) / steps)
    cuts["+ fit loop, callbacks"] = statistics.median(timings)
    return cuts


def _self_times(xspace_path: str):
    """Yields (op name, op type, self time in ps) for every TensorFlow op event of a profiler trace."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    with open(xspace_path, "rb") as file:
        space.ParseFromString(file.read())
    for plane in space.planes:
        names = {key: metadata.name for key, metadata in plane.event_metadata.items()}
        for line in plane.lines:
            events = sorted(line.events, key=lambda e: (e.offset_ps, -e.duration_ps))
            # self time: an event's duration less that of the events nested in it on the same thread
            stack, child_time = [], collections.defaultdict(int)
            for index, event in enumerate(events):
                while stack and events[stack[-1]].offset_ps + events[stack[-1]].duration_ps <= event.offset_ps:
                    stack.pop()
                if stack:
                    child_time[stack[-1]] += event.duration_ps
                stack.append(index)
            for index, event in enumerate(events):
                match = _OP_EVENT.match(names.get(event.metadata_id, ""))
                if match:
                    yield match["name"], match["type"], event.duration_ps - child_time[index]


def _issuer(op_name: str) -> str:
    """Which phase and layer issued an op, from its name scope: "forward: conv1", "backward: slot_gru1",
    "Adam", "forward: losses, metrics" (ops outside any layer), "input pipeline" (outside the step)."""
    parts = op_name.split("/")
    if parts[0] != "StatefulPartitionedCall":
        return "input pipeline"
    parts = parts[1:]
    phase = "forward"
    if parts[0] == "gradient_tape":
        phase, parts = "backward", parts[1:]
    scopes = [re.sub(r"_\d+$", "", part) for part in parts[:-1]]
    scopes = [scope for scope in scopes if scope not in _MODEL_SCOPES]
    if not scopes:
        return f"{phase}: losses, metrics"
    if scopes[0] == "adam":
        return "Adam"
    # a bidirectional RNN's two directions are layers of their own
    layer = "/".join(scopes[:2]) if scopes[0].startswith("bidirectional") and len(scopes) > 1 else scopes[0]
    return f"{phase}: {layer}"


def op_profile(model, batches, run_callbacks, steps: int, trace_dir: str):
    """Op self time per step by op type and by layer, from a profiler trace of ``steps`` fit steps."""
    import tensorflow as tf

    model.fit(batches, epochs=1, steps_per_epoch=2, verbose=0, callbacks=run_callbacks, shuffle=False)
    tf.profiler.experimental.start(trace_dir)
    start = time.perf_counter()
    model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=run_callbacks, shuffle=False)
    wall_ms = 1000 * (time.perf_counter() - start) / steps
    tf.profiler.experimental.stop()
    paths = sorted(glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True), key=os.path.getmtime)
    if not paths:
        raise RuntimeError(f"the profiler wrote no trace under {trace_dir}")
    by_type, by_layer = collections.Counter(), collections.Counter()
    for name, op_type, picoseconds in _self_times(paths[-1]):
        by_type[op_type] += picoseconds / 1e9 / steps
        by_layer[_issuer(name)] += picoseconds / 1e9 / steps
    return wall_ms, by_type, by_layer


def _print_table(title: str, counter: collections.Counter, total: float, top: int):
    print(f"  {title:<44} {'ms/step':>8} {'share':>6}")
    for key, value in counter.most_common(top):
        print(f"  {key[:44]:<44} {value:8.2f} {value / total:6.1%}")
    rest = total - sum(value for _, value in counter.most_common(top))
    print(f"  {'(the rest)':<44} {rest:8.2f} {rest / total:6.1%}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["cnn:beta_vae", "rnn:beta_vae"],
                        help="ARCHITECTURE:METHOD pairs")
    parser.add_argument("--steps", type=int, default=20, help="steps per timing and in the trace")
    parser.add_argument("--threads", type=int, default=1, help="intra- and inter-op threads")
    parser.add_argument("--top", type=int, default=12, help="rows per table")
    parser.add_argument("--config", default="full", help="dmelodies builder config of the train split")
    parser.add_argument("--trace_dir", help="keep the profiler traces here (default: a temporary folder)")
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from benchmarks.training import data
    from benchmarks.models import ARCHITECTURES
    from benchmarks.objectives import OBJECTIVES
    from train_throughput import training_setup

    for key in args.models:
        architecture, _, method = key.partition(":")
        if architecture not in ARCHITECTURES or method not in OBJECTIVES:
            parser.error(f"--models {key!r}: expected ARCHITECTURE:METHOD with ARCHITECTURE in "
                         f"{sorted(ARCHITECTURES)} and METHOD in {sorted(OBJECTIVES)}")
    train = data.TFDSSource(config=args.config).load("train")
    print(f"TensorFlow {tf.__version__}, {args.threads} intra/inter-op threads, {os.cpu_count()} cores, load "
          f"average {os.getloadavg()[0]:.1f}; batch 512; CPU ms per step, median of {REPETITIONS}")
    with tempfile.TemporaryDirectory() as scratch:
        for key in args.models:
            architecture, method = key.split(":")
            model, batches, run_callbacks = training_setup(architecture, method, train, jit_compile=False,
                                                           log_dir=os.path.join(scratch, "logs", key))
            print(f"\n{architecture} {method}: phases (CPU ms per step; each row adds to the one above)")
            previous = 0.0
            for cut, cpu_ms in phases(model, batches, run_callbacks, args.steps).items():
                print(f"  {cut:<44} {cpu_ms:8.2f}  (+{cpu_ms - previous:.2f})")
                previous = cpu_ms
            trace_dir = os.path.join(args.trace_dir or scratch, key.replace(":", "_"))
            wall_ms, by_type, by_layer = op_profile(model, batches, run_callbacks, args.steps, trace_dir)
            total = sum(by_type.values())
            print(f"{architecture} {method}: profiler trace, {wall_ms:.1f} ms wall per step while tracing, "
                  f"{total:.2f} ms of TensorFlow op self time per step")
            _print_table("op type", by_type, total, args.top)
            _print_table("issued by", by_layer, total, args.top)


if __name__ == "__main__":
    main()
