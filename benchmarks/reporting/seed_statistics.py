"""Statistics over training seeds: what a reviewer needs before two numbers are called different.

One run per point says nothing about how much a score moves when only the seed changes. Following
Locatello et al. (ICML 2019), who showed that the seed matters as much as the method, a point (one
hyperparameter value of one method) is summarised by the median and range over its seeds, and a
method by the median over all its runs with a percentile-bootstrap 95 % interval (Efron & Tibshirani,
1993). Two methods differ only where their intervals do not overlap.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Sequence

import numpy as np

from benchmarks.run_dir import point_of  # noqa: F401  (a run's point, named here for the report)

BOOTSTRAP_RESAMPLES = 10_000


@dataclasses.dataclass(frozen=True)
class Summary:
    """The median of ``n`` values and an interval around it: a range (``low``, ``high`` = min, max) or a
    bootstrap interval, as the function that made it says."""

    n: int
    median: float
    low: float
    high: float

    def separated_from(self, other: "Summary") -> bool:
        """True when the two intervals do not overlap: the only case in which a difference is called."""
        return self.high < other.low or other.high < self.low

    def format(self, digits: int = 3, of: int | None = None) -> str:
        """``median [low, high]`` (a single value alone); ``of``: the runs the row has, named as
        ``(n of <of>)`` where fewer of them have this score (newer scores are added run by run)."""
        text = f"{self.median:.{digits}f}" if self.n == 1 else \
            f"{self.median:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"
        return text + (f" ({self.n} of {of})" if of is not None and self.n < of else "")


def finite(values: Iterable) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def seed_range(values: Sequence[float]) -> Summary | None:
    """Median and range (min, max) of a point's values over its seeds; None without a finite value."""
    values = finite(values)
    if not values:
        return None
    return Summary(len(values), float(np.median(values)), min(values), max(values))


def bootstrap_median(values: Sequence[float], level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES,
                     seed: int = 0) -> Summary | None:
    """The median and its percentile-bootstrap ``level`` interval: ``resamples`` resamples of the values
    with replacement, seeded, so the same values always give the same interval."""
    values = np.asarray(finite(values))
    if not len(values):
        return None
    if not 0 < level < 1:
        raise ValueError(f"the interval's level must be in (0, 1), got {level}")
    draws = np.random.default_rng(seed).integers(0, len(values), (resamples, len(values)))
    medians = np.median(values[draws], axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(medians, [tail, 100 - tail])
    return Summary(len(values), float(np.median(values)), float(low), float(high))

