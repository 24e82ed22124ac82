"""Which metric configs score a run: the standard suite, the paper protocol per method, the study's lists.

A metric config is a file of ``gin_configs/metrics/``; its results file is ``metrics/<name>.json`` in the run.
"""
from __future__ import annotations

# disentanglement_lib's standard suite (protocol §7): what a run is scored with unless told otherwise.
STANDARD_SUITE = ("mig", "modularity_explicitness", "sap_score")
# The scores added to every run of results/ after the standard suite: Pati & Lerch's interpretability, the
# newer metrics (benchmarks.evaluation.metrics), disentanglement_lib's downstream sample efficiency and its
# fairness (with the fast trees).
LATER_METRICS = ("interpretability", "dcimig", "jemmig", "infomec", "dci_es", "downstream_task", "fairness_fast")
# What the null floor scores: every metric a run carries that needs no decoder.
NULL_FLOOR_METRICS = (*STANDARD_SUITE, *LATER_METRICS)
# The paper protocol (resolved per method), then the standard suite.
STUDY_METRICS = ("paper", *STANDARD_SUITE)
# The generalisation preset's: the standard suite, then the scores on the held-out test melodies.
GENERALISATION_METRICS = (*STANDARD_SUITE, "generalisation")
# protocol §7: the paper's trainers scored 201 test batches of 512, FactorVAE's of 256: one config each.
PAPER_PROTOCOL_FILES = {"factor_vae": "paper_factor_vae"}


def metric_file(metric: str, method: str | None) -> str:
    """The metric config for ``metric`` on a run of ``method``: ``paper`` is the method's paper protocol."""
    return PAPER_PROTOCOL_FILES.get(method, "paper") if metric == "paper" else metric


def metric_name(metric: str) -> str:
    """The results file a metric config writes: every paper protocol is named ``paper``."""
    return "paper" if metric.startswith("paper") else metric
