"""Print DCIMIG and JEMMIG computed by Zaidi et al.'s reference code on the fixture the tests score.

Why: ``benchmarks/evaluation/metrics/`` writes these metrics from their papers on disentanglement_lib's building
blocks; the surest check of the formulas is the code that accompanies Zaidi et al.'s review
("Measuring Disentanglement: A Review of Metrics", ubisoft/ubisoft-laforge-disentanglement-metrics).
This script imports it from a checkout (nothing of it is copied here) and prints its values on
:func:`fixture`; ``tests/benchmarks/evaluation/test_newer_metrics.py`` holds them and checks ours against them.

    pip install --target /tmp/pyitlib --no-deps pyitlib
    git -C <bare mirror of ubisoft/ubisoft-laforge-disentanglement-metrics> archive HEAD | tar -x -C /tmp/ref
    PYTHONPATH=/tmp/pyitlib python tools/reference_metric_values.py --reference_repo=/tmp/ref
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

NUM_BINS = 20


def fixture(seed: int = 0, n: int = 2000) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{name: (factors (n, 9), codes (n, d))}``: dMelodies labels of ``n`` seeded melodies and codes that
    are the labels themselves, the labels mixed and noisy, one duplicated, and noise alone."""
    import dmelodies_tfds as d

    rng = np.random.default_rng(seed)
    factors = d.index_to_factors(rng.integers(0, d.NUM_EXAMPLES, n)).astype(np.int64)
    labels = factors.astype(np.float64)
    mixing = np.eye(9) + 0.3 * rng.standard_normal((9, 9))
    return {
        "oracle": (factors, labels),
        "mixed": (factors, labels @ mixing + 0.5 * rng.standard_normal((n, 9))),
        "duplicated": (factors, np.concatenate([labels, labels[:, :1]], axis=1)),
        "noise": (factors, rng.standard_normal((n, 9))),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference_repo", required=True, help="a checkout of the reference code")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.join(os.path.abspath(args.reference_repo), "src"))
    sys.path.insert(0, os.path.join(os.path.abspath(args.reference_repo), "src", "metrics"))
    from dcimig import dcimig
    from jemmig import jemmig

    for name, (factors, codes) in fixture().items():
        values = [metric(factors, codes, continuous_factors=False, nb_bins=NUM_BINS) for metric in (dcimig, jemmig)]
        print(f"    \"{name}\": ({float(values[0])!r}, {float(values[1])!r}),")
    return 0


if __name__ == "__main__":
    sys.exit(main())
