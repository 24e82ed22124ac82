"""The paper's disentanglement benchmarks on dMelodies, in Keras 3 on TensorFlow (SPEC §6-7).

- :mod:`benchmarks.data`: ``tf.data`` batches from the ``dmelodies`` TFDS splits.
- :mod:`benchmarks.models`: the CNN and hierarchical RNN VAEs, the FactorVAE discriminator, the dSprites VAE.
- :mod:`benchmarks.objectives`: β-VAE, Annealed-VAE and FactorVAE as ``keras.Model`` subclasses.
- :mod:`benchmarks.train`: the gin-configured, resumable training entry point.
- :mod:`benchmarks.sweep`: the paper's 54-run grid.
- :mod:`benchmarks.train_one`: one run of a sweep by its index, for job arrays.
- :mod:`benchmarks.ray_backend`: the sweep as Ray tasks, retried when a worker dies.
- :mod:`benchmarks.dlib_compat`: the two patches that let disentanglement_lib 1.5 import on TF 2.21.
- :mod:`benchmarks.ground_truth`: dMelodies as a disentanglement_lib ``GroundTruthData``.
- :mod:`benchmarks.representation`: representation functions from a saved encoder.
- :mod:`benchmarks.evaluate`: disentanglement_lib's metrics on a trained run, gin-configured.
- :mod:`benchmarks.controllability`: which factors each latent dimension changes when decoded.
- :mod:`benchmarks.report`: the results table and the paper's figures.
- :mod:`benchmarks.quickstart`: the whole pipeline on a small default (the README's first command).
- :mod:`benchmarks.explore`: a local web page to see and hear what each latent dimension does.
"""
