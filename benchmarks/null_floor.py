r"""Each metric's null floor: what it gives a representation that learned nothing.

    python -m benchmarks.null_floor --out=results/null_floor [--seeds=0,1,2] [--metrics=mig,sap_score]

A score means little without the value it takes by chance: Modularity, for one, is high for codes that
carry no information at all (a code that varies with nothing is "modular"). This scores, with the same
metric configs as every run (``gin_configs/metrics``), two kinds of representation per seed:

- ``untrained_<architecture>``: the paper's CNN or RNN encoder as initialised for that seed (protocol §6's
  Glorot-normal weights), posterior mean, never trained;
- ``independent_codes``: standard-normal codes of the paper's 32 dimensions drawn independently of the
  melodies (the metric's value when the code and the factors share nothing).

and writes ``null_floor.json`` (source -> score -> one value per seed, with the seeds, metric configs and
provenance), which :mod:`benchmarks.report` prints beside the runs' scores (``--null_floor``).
"""
from __future__ import annotations

from dmelodies_tfds import console  # loads no TensorFlow

if __name__ == "__main__":  # run as a program: quiet TensorFlow's start-up before it loads
    console.quiet_program()

import argparse
import json
import os
import sys
from typing import Sequence

import numpy as np

from benchmarks.evaluate import STANDARD_SUITE, score
from benchmarks.files import write_text
from benchmarks.provenance import provenance

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


def null_floor(seeds: Sequence[int] = (0, 1, 2), metrics: Sequence[str] = STANDARD_SUITE,
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


def read_null_floor(path: str) -> dict[str, dict[str, list[float]]]:
    """The ``scores`` of a ``null_floor.json``; ``ValueError`` naming what is wrong with the file."""
    try:
        with open(path, encoding="utf-8") as file:
            found = json.load(file)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read the null floor {path}: {error}") from None
    scores = found.get("scores") if isinstance(found, dict) else None
    if not isinstance(scores, dict) or not all(
            isinstance(by_score, dict) and all(isinstance(values, list) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
                for values in by_score.values())
            for by_score in scores.values()):
        raise ValueError(f"{path} is not a null floor: it needs 'scores': source -> score -> list of numbers")
    return scores


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.null_floor", description=__doc__.split("\n\n")[1])
    parser.add_argument("--out", required=True, help=f"folder for {NULL_FLOOR_FILE}")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--metrics", default=",".join(STANDARD_SUITE),
                        help="metric configs of gin_configs/metrics (default: the standard suite)")
    parser.add_argument("--sources", default=",".join(SOURCES), help=f"any of {', '.join(SOURCES)}")
    parser.add_argument("--gin_bindings", action="append", default=[],
                        help="extra binding for every metric config, e.g. mig.num_train=1000 (repeatable)")
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        sources = [s for s in args.sources.split(",") if s.strip()]
        unknown = [s for s in sources if s not in SOURCES]
        if unknown or not seeds or min(seeds) < 0:
            raise ValueError(f"unknown source(s) {', '.join(unknown)}" if unknown else "--seeds: give seeds >= 0")
        result = null_floor(seeds, [m for m in args.metrics.split(",") if m.strip()], sources, args.gin_bindings)
    except ValueError as error:  # ConfigurationError (an unknown metric config) is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, NULL_FLOOR_FILE)
    write_text(path, json.dumps(result, indent=2) + "\n")
    for source, by_score in result["scores"].items():
        print(source + ": " + ", ".join(f"{key} {np.median(values):.4f}" for key, values in sorted(by_score.items())))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
