"""Disentanglement metrics newer than disentanglement_lib's, each with its signature
``(ground_truth_data, representation_function, random_state, ...) -> dict`` and one gin config in
``gin_configs/metrics/``, written from their papers on disentanglement_lib's own building blocks
(its sampling, discretiser and mutual-information estimates), so that their numbers and MIG's come
from the same codes and the same bins.

- :mod:`benchmarks.evaluation.metrics.dcimig`: DCIMIG (Sepliarskaia, Kiseleva & de Rijke, 2019).
- :mod:`benchmarks.evaluation.metrics.jemmig`: JEMMIG (Do & Tran, ICLR 2020).
- :mod:`benchmarks.evaluation.metrics.infomec`: InfoM, InfoE and InfoC (Hsu et al., NeurIPS 2023).
- :mod:`benchmarks.evaluation.metrics.dci_es`: DCI-ES, explicitness and size beside D, C and I (Eastwood et al., ICLR 2023).
- :mod:`benchmarks.evaluation.metrics.dci_fast`: DCI's scores from histogram gradient-boosted trees, in seconds.
- :mod:`benchmarks.evaluation.metrics.interpretability`: Adel et al.'s interpretability, as Pati & Lerch use it.
"""
