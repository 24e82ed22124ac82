"""The paper's disentanglement benchmarks on dMelodies, in Keras 3 on TensorFlow (SPEC §6-7).

- :mod:`benchmarks.data`: ``tf.data`` batches from the ``dmelodies`` TFDS splits.
- :mod:`benchmarks.models`: the CNN and hierarchical RNN VAEs, the FactorVAE discriminator, the dSprites VAE.
- :mod:`benchmarks.objectives`: β-VAE, Annealed-VAE and FactorVAE as ``keras.Model`` subclasses.
- :mod:`benchmarks.train`: the gin-configured, resumable training entry point.
- :mod:`benchmarks.sweep`: the paper's 54-run grid.
"""
