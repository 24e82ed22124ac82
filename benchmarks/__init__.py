"""The paper's disentanglement benchmarks on dMelodies, in Keras 3 on TensorFlow (protocol §6-7).

"protocol §N" in this package's docstrings is section N of docs/protocol.md, the project's specification.

The commands, each ``python -m benchmarks.<name>``, parse their arguments and call the library:
``train``, ``stacked``, ``sweep`` (and ``train_one``, its ``--model_num``), ``evaluate``, ``null_floor``,
``report``, ``zoo``, ``leaderboard``, ``explore`` and ``quickstart``; :mod:`benchmarks.cli` is what they share.

The library, in the order of the pipeline (each imports only what is above it):

- :mod:`benchmarks.gin_config`, :mod:`benchmarks.provenance`: parsing gin files; what produced a result.
- :mod:`benchmarks.run_dir`: a run's folder, its file names, lock, configuration check and results schema.
- :mod:`benchmarks.models`: the CNN and hierarchical RNN VAEs, the FactorVAE discriminator, the dSprites VAE.
- :mod:`benchmarks.objectives`: β-VAE, Annealed-VAE and FactorVAE (the paper's), β-TCVAE, DIP-VAE-I/II and
  the supervised S2-VAE and AR-VAE, one ``keras.Model`` subclass each, and their schedules.
- :mod:`benchmarks.study`: the methods, the grid, the presets and the metric suites.
- :mod:`benchmarks.training`: one run, stacked runs, data, checkpoints and callbacks.
- :mod:`benchmarks.runners`: a sweep's runs on this machine or on Ray.
- :mod:`benchmarks.evaluation`: disentanglement_lib's metrics and the project's, on trained runs.
- :mod:`benchmarks.reporting`: tables, the summary over seeds, the figures, the model zoo, the leaderboard and
  the check of a submitted run.
- :mod:`benchmarks.explorer`: the latent explorer's web page.
- :mod:`benchmarks.pipeline`: the whole pipeline on a small default (the quickstart).
"""
