"""Evaluation: disentanglement_lib's metrics, unchanged, and the project's own, on trained encoders.

- :mod:`benchmarks.evaluation.scoring`: a run (or any representation) scored with gin-configured metrics.
- :mod:`benchmarks.evaluation.dlib_compat`: the patches that let disentanglement_lib 1.5 import on TF 2.21.
- :mod:`benchmarks.evaluation.ground_truth`: dMelodies as a disentanglement_lib ``GroundTruthData``.
- :mod:`benchmarks.evaluation.representation`: representation functions from a saved encoder and decoder.
- :mod:`benchmarks.evaluation.controllability`: which factors each latent dimension changes when decoded.
- :mod:`benchmarks.evaluation.generalisation`: per-factor probes scored on held-out test melodies.
- :mod:`benchmarks.evaluation.metrics`: metrics newer than disentanglement_lib (DCIMIG, JEMMIG, InfoMEC, DCI-ES).
- :mod:`benchmarks.evaluation.null_floor`: each metric's value for representations that learned nothing.

Every metric takes disentanglement_lib's ``(ground_truth_data, representation_function, random_state)``;
those that decode codes also take ``decode_function=``.
"""
