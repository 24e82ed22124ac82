"""Training: one run, or several stacked into one vectorised model, resumable at every step.

- :mod:`benchmarks.training.run`: the gin-configured, resumable single run.
- :mod:`benchmarks.training.stacked`: several runs of one method trained as one model.
- :mod:`benchmarks.training.data`: batches from the ``dmelodies`` TFDS splits, in a seeded order.
- :mod:`benchmarks.training.order`: that order computed without TensorFlow, for the other backends.
- :mod:`benchmarks.training.random_numbers`: TensorFlow's random numbers on every backend.
- :mod:`benchmarks.training.philox`: TensorFlow's Philox generator in array operators, which both use.
- :mod:`benchmarks.training.checkpoints`: what a checkpoint holds, and restoring the newest intact one.
- :mod:`benchmarks.training.callbacks`: the NaN guard, TensorBoard logs, checkpointing, schedule notes.
"""
