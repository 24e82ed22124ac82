"""Scores a trained encoder with disentanglement_lib's own metrics on dMelodies (protocol §7).

:func:`run` (``python -m benchmarks.evaluate``) reads ``encoder.keras`` (and ``decoder.keras`` for controllability and generalisation) from the run and writes
``<model_dir>/metrics/<name>.json`` and, beside it, ``<name>.gin``: the operative configuration.
``gin_configs/metrics/`` holds one file per metric with disentanglement_lib's standard study settings
(posterior mean, 10,000 points plus 5,000 to test), ``paper.gin`` (the paper's protocol),
``controllability.gin`` and ``generalisation.gin`` (held-out test melodies, :mod:`benchmarks.evaluation.generalisation`).
From Python, :func:`score` scores any representation function.

A results file holds ``name``, ``scores`` (metric -> the metric's own dict, e.g. ``{"mig":
{"discrete_mig": 0.31}}``), ``factorwise_mig`` (factor -> MIG, when MIG was computed), ``protocol``,
``seed``, ``split_seed``, ``split_config``, ``metric_seconds`` and ``elapsed_seconds``; plain JSON numbers only.
A file :func:`run` writes also holds ``provenance``: the commit, source changes and package versions of the
code that scored (:func:`benchmarks.provenance.provenance`).
"""
from __future__ import annotations

import inspect
import os
import re
import time
from typing import Callable, Sequence

import gin
import keras
import numpy as np
from threadpoolctl import threadpool_limits

import dmelodies_tfds as d
from dmelodies_tfds.dmelodies.dmelodies_dataset_builder import make_config
from benchmarks import run_dir
from benchmarks.provenance import provenance
from benchmarks.evaluation import dlib_compat  # noqa: F401  (before disentanglement_lib)
from benchmarks.evaluation import controllability, generalisation, ground_truth
from benchmarks.evaluation.metrics import dci_es, dci_fast, dcimig, infomec, interpretability, jemmig
from benchmarks.gin_config import ConfigurationError, call_configured, parse_config
from benchmarks.study.configs import METRICS_DIR
from benchmarks.study.suites import STANDARD_SUITE, metric_file
from benchmarks.evaluation.representation import greedy_decoder, load_decoder, load_encoder, representation_function
from disentanglement_lib.evaluation.metrics import (beta_vae, dci, downstream_task, factor_vae, fairness, irs, mig,
                                                    modularity_explicitness, sap_score, unsupervised_metrics, utils)

# Names as in gin_configs/metrics/ and disentanglement_lib's study configs; each function takes
# (ground_truth_data, representation_function, random_state) and returns a dict of scores. Those that
# decode codes also take ``decode_function=`` (:data:`DECODING_METRICS`).
METRICS: dict[str, Callable] = {
    "mig": mig.compute_mig,
    "modularity_explicitness": modularity_explicitness.compute_modularity_explicitness,
    "sap_score": sap_score.compute_sap,
    "dci": dci.compute_dci,
    "beta_vae_sklearn": beta_vae.compute_beta_vae_sklearn,
    "factor_vae_metric": factor_vae.compute_factor_vae,
    "irs": irs.compute_irs,
    "downstream_task": downstream_task.compute_downstream_task,
    "fairness": fairness.compute_fairness,
    "unsupervised": unsupervised_metrics.unsupervised_metrics,
    "dcimig": dcimig.compute_dcimig,  # benchmarks.evaluation.metrics: newer than disentanglement_lib
    "jemmig": jemmig.compute_jemmig,
    "infomec": infomec.compute_infomec,
    "dci_es": dci_es.compute_dci_es,
    "dci_fast": dci_fast.compute_dci_fast,  # DCI's scores from histogram boosted trees, in seconds
    "interpretability": interpretability.compute_interpretability,
    "controllability": controllability.compute_controllability,  # needs the decoder
    "generalisation": generalisation.compute_generalisation,  # the run's own splits; the decoder if given
}
# Metrics that decode codes: they need the run's decoder.keras (generalisation for its reconstruction accuracy).
DECODING_METRICS = ("controllability", "generalisation")
CONFIG_DIR = METRICS_DIR

dmelodies_data = gin.external_configurable(ground_truth.DMelodiesData, "dmelodies_data")
split_prefix = gin.external_configurable(ground_truth.SplitPrefix, "split_prefix")


def factorwise_mig(mus: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """MIG of each factor, from disentanglement_lib's own building blocks (its ``mig`` returns the mean).

    Same layout and steps as ``mig._compute_mig``: codes (num_codes, n) discretised by the configured
    discretiser, factors (num_factors, n); the gap between the two codes most informative about a factor,
    over the factor's entropy.
    """
    information = utils.discrete_mutual_info(utils.make_discretizer(mus), ys)
    top_two = np.sort(information, axis=0)[::-1][:2]
    return (top_two[0] - top_two[1]) / utils.discrete_entropy(ys)


class _Recording:
    """A representation function that keeps the melodies it encoded and the codes it returned.

    Wrapped around the function disentanglement_lib's MIG calls, it yields exactly the (code, factor)
    pairs that MIG scored: dMelodies' factors are read back exactly from the melodies.
    """

    def __init__(self, function):
        self.function, self.observations, self.codes = function, [], []

    def __call__(self, observations):
        codes = self.function(observations)
        self.observations.append(np.asarray(observations))
        self.codes.append(np.asarray(codes))
        return codes

    def factorwise_mig(self) -> dict:
        factors = d.factors_from_tokens(np.concatenate(self.observations))
        if np.any(factors < 0):
            raise ValueError("factor-wise MIG needs dMelodies melodies as observations")
        return dict(zip(d.FACTOR_KEYS, factorwise_mig(np.concatenate(self.codes).T, factors.T).tolist()))


@gin.configurable("evaluation", denylist=["encoder", "decoder"])
def evaluate(encoder, decoder=None, name: str = gin.REQUIRED, metrics: Sequence[str] = gin.REQUIRED,
             representation: str = "mean", ground_truth=dmelodies_data, random_seed: int = 0,
             split_seed: int = 0, split_config: str = "random", blas_threads: int | None = 1) -> dict:
    """Scores ``encoder`` with each of ``metrics`` in turn; returns the results (module docstring).

    Every metric gets a fresh ground truth, representation function and ``RandomState(random_seed)``,
    so each one scores the same melodies with the same codes, whatever ran before it.

    Args:
      encoder: a trained encoder (``keras.Model``, tokens -> ``[z_mean, z_log_std]``), or any function
        tokens (n, 16) -> codes (n, latent), used as it is.
      decoder: the run's decoder; only ``controllability`` needs it (``generalisation`` without it leaves out
        the reconstruction accuracies).
      name: names the results file, ``metrics/<name>.json``.
      metrics: keys of :data:`METRICS`.
      representation: what is read from an encoder: "mean" (disentanglement_lib's standard) or
        "sample" (the paper's protocol, seeded by ``random_seed``).
      ground_truth: a ground-truth class (``@dmelodies_data``, ``@split_prefix``), built per metric.
      random_seed: seeds each metric's random state and the posterior samples.
      split_seed: the split the run trained on (protocol §4, §6); the paper protocol scores that split's
        test melodies. :func:`run` binds it from the run's ``results.json``.
      split_config: the split config of the run's dataset ("random", or a generalisation split of
        :mod:`dmelodies_tfds.splits`): ``generalisation`` and the paper protocol score its test melodies.
        :func:`run` binds it from the run's ``results.json``.
      blas_threads: the threads numpy's BLAS may use while a metric runs (None: the library's default, one
        per core). disentanglement_lib's classifiers make many small BLAS calls, for which worker threads
        cost more than they give: one thread scores downstream_task 2.6 times faster than two alone and
        4.9 times faster with two scorings side by side (docs/performance.md), and fixes the order of
        the sums that unconverged solvers depend on. The encoder (TensorFlow's own threads) is not limited.
    """
    _check_sizes(gin.config_str())
    if not re.fullmatch(r"[\w.-]+", str(name)):
        raise ConfigurationError(f"evaluation.name must be a plain file name, got {name!r}")
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if blas_threads is not None and (isinstance(blas_threads, bool) or not isinstance(blas_threads, int)
                                     or blas_threads < 1):
        raise ConfigurationError(f"evaluation.blas_threads must be a positive integer or None, got {blas_threads!r}")
    if representation not in ("mean", "sample"):
        raise ConfigurationError(f"evaluation.representation must be 'mean' or 'sample', got {representation!r}")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ConfigurationError(f"unknown metric(s) {unknown or metrics!r}; metrics are {', '.join(METRICS)}")
    if "controllability" in metrics and decoder is None:
        raise ConfigurationError("controllability decodes latent traversals: it needs the run's decoder.keras")
    is_encoder = isinstance(encoder, keras.Model)
    scores, factorwise, seconds, start = {}, None, {}, time.perf_counter()
    for metric in metrics:
        started = time.perf_counter()
        data = ground_truth(split_seed=split_seed, split_config=split_config)
        function = representation_function(encoder, representation, random_seed) if is_encoder else encoder
        random_state = np.random.RandomState(random_seed)
        if metric == "mig":  # kept: the pairs it scores give the factor-wise MIG
            function = _Recording(function)
        with threadpool_limits(limits=blas_threads, user_api="blas"):
            scores[metric] = METRICS[metric](data, function, random_state, **_decoding(metric, decoder))
        if isinstance(function, _Recording):
            factorwise = function.factorwise_mig()
            if not np.isclose(np.mean(list(factorwise.values())), scores[metric]["discrete_mig"]):
                raise RuntimeError("factor-wise MIG does not average to disentanglement_lib's MIG")
        seconds[metric] = time.perf_counter() - started
    result = {"name": name, "scores": _plain(scores)}
    if factorwise is not None:
        result["factorwise_mig"] = factorwise
    result["protocol"] = {"metrics": list(metrics), "representation": representation if is_encoder else "function",
                          "ground_truth": repr(data), "blas_threads": blas_threads}
    result.update(seed=random_seed, split_seed=split_seed, split_config=split_config, metric_seconds=seconds,
                  elapsed_seconds=time.perf_counter() - start)
    return result


def _decoding(metric: str, decoder) -> dict:
    """``decode_function=`` for a metric whose signature takes it (:data:`DECODING_METRICS`)."""
    if "decode_function" not in inspect.signature(METRICS[metric]).parameters:
        return {}
    return {"decode_function": None if decoder is None else greedy_decoder(decoder)}


_SIZE_BINDING = re.compile(r"^([\w./]+)\.(num_\w+|batch_size) = (.+)$", re.MULTILINE)


def _check_sizes(config: str) -> None:
    """Refuses a metric size bound to anything but a positive integer, or a list of them where the metric
    takes several (``downstream_task.num_train``): ``mig.num_train = 0`` fails deep inside
    disentanglement_lib with an IndexError."""
    for configurable, parameter, value in _SIZE_BINDING.findall(config):
        sizes = value.strip()[1:-1].split(",") if re.fullmatch(r"[\[(].*[\])]", value.strip()) else [value]
        if not all(re.fullmatch(r"[1-9]\d*", size.strip()) for size in sizes):
            raise ConfigurationError(f"{configurable}.{parameter} = {value.strip()}: it must be a positive integer"
                                     + (" or a list of them" if len(sizes) > 1 else ""))


def _evaluate_as_configured(encoder, decoder) -> dict:
    """:func:`evaluate` with the parsed configuration; a missing required binding is a ConfigurationError."""
    return call_configured(evaluate, encoder, decoder)


def _plain(value):
    """numpy scalars and arrays (anywhere in dicts and lists) as JSON's plain numbers and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)


def config_file(name: str) -> str:
    """The path of ``gin_configs/metrics/<name>.gin``; ``ConfigurationError`` listing them if absent."""
    path = os.path.join(CONFIG_DIR, f"{name}.gin")
    if not os.path.isfile(path):
        known = sorted(f[:-4] for f in os.listdir(CONFIG_DIR)) if os.path.isdir(CONFIG_DIR) else []
        raise ConfigurationError(f"unknown metric config {name!r}; known: {', '.join(known) or 'none'} "
                                 f"(in {CONFIG_DIR})")
    return path


def score(representation, metrics: Sequence[str] = STANDARD_SUITE, seed: int = 0,
          gin_bindings: Sequence[str] = (), decoder=None) -> dict:
    """Scores any representation on dMelodies; returns ``{config name: results}`` (for notebooks).

    Args:
      representation: a trained encoder (``keras.Model``) or any function tokens (n, 16) -> codes.
      metrics: names of configs in ``gin_configs/metrics`` (e.g. "mig", "paper"); each is parsed alone,
        then ``evaluation.random_seed = seed``, then ``gin_bindings``. gin's configuration is cleared
        after each.
      decoder: the trained decoder, for "controllability" (and "generalisation"'s reconstruction accuracies).
    """
    results = {}
    for name in metrics:
        parse_config([config_file(name)], [f"evaluation.random_seed = {int(seed)}", *gin_bindings], CONFIG_DIR)
        try:
            results[name] = _evaluate_as_configured(representation, decoder)
        finally:
            gin.clear_config()
    return results


# protocol §7: the paper's trainers scored the first 201 test batches: of 512 melodies for β-VAE and
# Annealed-VAE, of 256 for FactorVAE (its trainer evaluates with batch 256). Which config a method
# uses is :func:`benchmarks.study.suites.metric_file`'s.
PAPER_NUM_EXAMPLES = {"paper": 201 * 512, "paper_factor_vae": 201 * 256}


def _check_paper_protocol(method: str | None) -> None:
    """Refuses the paper protocol sized for another method's trainer (protocol §7): a FactorVAE run scored on
    102,912 melodies, or another run on 51,456. Other sizes are deliberate and pass."""
    if method is None or gin.query_parameter("evaluation.name") != "paper":
        return
    try:
        num_examples = gin.query_parameter("split_prefix.num_examples")
    except ValueError:
        return
    expected = metric_file("paper", method)
    wrong = {n for name, n in PAPER_NUM_EXAMPLES.items() if name != expected}
    if num_examples in wrong:
        raise ConfigurationError(
            f"the paper protocol scored {PAPER_NUM_EXAMPLES[expected]:,} test melodies for {method} runs, "
            f"not {num_examples:,}: use gin_configs/metrics/{expected}.gin")


def _split_bindings(results: dict, model_dir: str) -> list[str]:
    """``evaluation.split_seed`` and ``evaluation.split_config`` of the split a run trained on, from its
    ``results.json``: the split config is its dMelodies builder config's. None for a hand-saved encoder."""
    bindings = [f"evaluation.split_seed = {int(results['split_seed'])}"] if "split_seed" in results else []
    if results.get("dataset") == "dmelodies" and results.get("dataset_config"):
        try:
            split_config = make_config(results["dataset_config"]).split_config
        except ValueError as error:
            raise ConfigurationError(f"{run_dir.results_path(model_dir)}: {error}") from None
        bindings.append(f"evaluation.split_config = {split_config!r}")
    return bindings


def run(model_dir: str, gin_files: Sequence[str], gin_bindings: Sequence[str] = ()) -> tuple[dict, str]:
    """Evaluates the run in ``model_dir`` as configured; returns the results (as written, ``provenance``
    included) and the JSON file written.

    The split seed and split config come from the run's ``results.json`` (``evaluation.split_seed`` and
    ``evaluation.split_config``, overridable by ``gin_bindings``), so the paper protocol and
    ``generalisation`` score the test melodies of the split the run trained on.
    """
    code = provenance()  # the code that scores, read before it runs (as training records it)
    result, operative_config = score_run(model_dir, gin_files, gin_bindings)
    result = {**result, "provenance": code}
    return result, run_dir.write_metrics(model_dir, result, operative_config)


def score_run(model_dir: str, gin_files: Sequence[str], gin_bindings: Sequence[str] = ()) -> tuple[dict, str]:
    """:func:`run` without writing anything: the results and the operative configuration (a submission is
    re-scored this way, :mod:`benchmarks.reporting.submission`)."""
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"model_dir {model_dir} does not exist")
    try:
        results = run_dir.read_results(model_dir, checked=False)
    except run_dir.RunProblem as problem:
        raise ConfigurationError(f"{model_dir}: {problem}") from None
    parse_config(gin_files, [*_split_bindings(results, model_dir), *gin_bindings], CONFIG_DIR)
    try:
        _check_paper_protocol(results.get("method"))
        try:
            metrics = gin.query_parameter("evaluation.metrics")
            wants_decoder = any(m in DECODING_METRICS for m in ([metrics] if isinstance(metrics, str) else metrics))
        except ValueError:
            raise ConfigurationError("the gin files bind no evaluation.metrics") from None
        result = _evaluate_as_configured(load_encoder(model_dir), load_decoder(model_dir) if wants_decoder else None)
        operative_config = gin.operative_config_str()
    finally:
        gin.clear_config()
    return result, operative_config
