"""Each metric's null floor: what it gives a representation that learned nothing.

A score means little without the value it takes by chance: Modularity, for one, is high for codes that
carry no information at all (a code that varies with nothing is "modular"). This scores, with the same
metric configs as every run (``gin_configs/metrics``), two kinds of representation per seed:

- ``untrained_<architecture>``: the paper's CNN or RNN encoder as initialised for that seed (protocol §6's
  Glorot-normal weights), posterior mean, never trained;
- ``independent_codes``: standard-normal codes of the paper's 32 dimensions drawn independently of the
  melodies (the metric's value when the code and the factors share nothing).

:func:`write_null_floor` (``python -m benchmarks.null_floor``) writes ``null_floor.json`` (source -> score ->
one value per seed, with the seeds, metric configs and provenance), which the report prints beside the
runs' scores (:func:`benchmarks.reporting.report.build_report`'s ``null_floor``).
"""
from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np

from benchmarks.evaluation.scoring import score
from benchmarks.provenance import provenance
from benchmarks.study.suites import NULL_FLOOR_METRICS
from dmelodies_tfds.atomic import write_text

NULL_FLOOR_FILE = "null_floor.json"
LATENT_DIM = 32  # protocol §6: every paper architecture's code size
SOURCES = ("untrained_cnn", "untrained_rnn", "independent_codes")


def untrained_encoder(architecture: str, seed: int):
    """The paper's ``architecture`` ("cnn" or "rnn") encoder with its initial weights for ``seed``."""
    import keras

    from benchmarks.models import ARCHITECTURES

    keras.utils.set_random_seed(seed)
    return ARCHITECTURES[architecture]().encoder


def independent_codes(seed: int, latent_dim: int = LATENT_DIM):
    """A representation function returning standard-normal codes that do not depend on the melodies."""
    generator = np.random.default_rng(seed)
    return lambda observations: generator.standard_normal((len(observations), latent_dim))


def representation(source: str, seed: int):
    if source == "independent_codes":
        return independent_codes(seed)
    if source.startswith("untrained_"):
        return untrained_encoder(source.removeprefix("untrained_"), seed)
    raise ValueError(f"unknown null-floor source {source!r}; sources are {', '.join(SOURCES)}")


def null_floor(seeds: Sequence[int] = (0, 1, 2), metrics: Sequence[str] = NULL_FLOOR_METRICS,
               sources: Sequence[str] = SOURCES, gin_bindings: Sequence[str] = (), progress=print) -> dict:
    """``{"scores": {source: {"<config>/<score>": [one value per seed]}}, "seeds", "metrics", "provenance"}``.

    Each seed scores with ``evaluation.random_seed = seed``: the melodies scored change with the seed as
    the representation does, so the spread over seeds is the floor's own noise. ``gin_bindings`` go to
    every metric config (e.g. smaller sizes for a quick look).
    """
    recorded = provenance()  # before scoring: the code that runs is the code at the start
    scores: dict[str, dict[str, list[float]]] = {}
    for source in sources:
        for seed in seeds:
            progress(f"{source}, seed {seed}: {', '.join(metrics)}")
            for name, result in score(representation(source, seed), metrics, seed, gin_bindings).items():
                for group in result["scores"].values():
                    for key, value in group.items():
                        if isinstance(value, (int, float)) and not isinstance(value, bool):
                            scores.setdefault(source, {}).setdefault(f"{name}/{key}", []).append(float(value))
    return {"scores": scores, "seeds": list(seeds), "metrics": list(metrics), "provenance": recorded}


def read_field(path: str, field: str, what: str):
    """``field`` of the JSON object in ``path`` (None where the file holds no object or no such field);
    ``ValueError`` naming the file, ``what`` it should be, when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as file:
            found = json.load(file)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read the {what} {path}: {error}") from None
    return found.get(field) if isinstance(found, dict) else None


def read_null_floor(path: str) -> dict[str, dict[str, list[float]]]:
    """The ``scores`` of a ``null_floor.json``; ``ValueError`` naming what is wrong with the file."""
    scores = read_field(path, "scores", "null floor")
    if not isinstance(scores, dict) or not all(
            isinstance(by_score, dict) and all(isinstance(values, list) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
                for values in by_score.values())
            for by_score in scores.values()):
        raise ValueError(f"{path} is not a null floor: it needs 'scores': source -> score -> list of numbers")
    return scores


def write_null_floor(out: str, result: dict) -> str:
    """Writes ``result`` (:func:`null_floor`) as ``out/null_floor.json``; returns the path."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, NULL_FLOOR_FILE)
    write_text(path, json.dumps(result, indent=2) + "\n")
    return path
