"""The paper's disentanglement benchmarks on dMelodies, in Keras 3 on TensorFlow (protocol §6-7).

"protocol §N" in this package's docstrings is section N of docs/protocol.md, the project's specification.

- :mod:`benchmarks.data`: ``tf.data`` batches from the ``dmelodies`` TFDS splits.
- :mod:`benchmarks.models`: the CNN and hierarchical RNN VAEs, the FactorVAE discriminator, the dSprites VAE.
- :mod:`benchmarks.objectives`: β-VAE, Annealed-VAE and FactorVAE (the paper's), β-TCVAE, DIP-VAE-I/II and
  the supervised S2-VAE and AR-VAE, one ``keras.Model`` subclass each, and their schedules.
- :mod:`benchmarks.train`: the gin-configured, resumable training entry point.
- :mod:`benchmarks.stacked`: several runs of one method trained as one vectorised model.
- :mod:`benchmarks.callbacks`: checkpointing, TensorBoard logs, the NaN guard.
- :mod:`benchmarks.provenance`: the commit and packages every ``results.json`` records.
- :mod:`benchmarks.sweep`: the paper's 54-run grid and the study presets, run locally or side by side.
- :mod:`benchmarks.train_one`: one run of a sweep by its index, for job arrays.
- :mod:`benchmarks.ray_backend`: the sweep as Ray tasks, retried when a worker dies.
- :mod:`benchmarks.dlib_compat`: the two patches that let disentanglement_lib 1.5 import on TF 2.21.
- :mod:`benchmarks.ground_truth`: dMelodies as a disentanglement_lib ``GroundTruthData``.
- :mod:`benchmarks.representation`: representation functions from a saved encoder.
- :mod:`benchmarks.evaluate`: disentanglement_lib's metrics on a trained run, gin-configured.
- :mod:`benchmarks.controllability`: which factors each latent dimension changes when decoded.
- :mod:`benchmarks.generalisation`: per-factor probes scored on held-out test melodies.
- :mod:`benchmarks.null_floor`: each metric's value for representations that learned nothing.
- :mod:`benchmarks.seed_statistics`: medians, ranges and bootstrap intervals over seeds.
- :mod:`benchmarks.report`: the results table, the summary over seeds and the figures.
- :mod:`benchmarks.quickstart`: the whole pipeline on a small default (the README's first command).
- :mod:`benchmarks.explore`: a local web page to see and hear what each latent dimension does.
"""
