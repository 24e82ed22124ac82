"""Statistics over seeds: ranges, bootstrap intervals of the median, and when a difference is called."""
import numpy as np
import pytest

from benchmarks.reporting import seed_statistics as stats


def test_seed_range_is_median_min_max_of_the_finite_values():
    summary = stats.seed_range([0.3, float("nan"), 0.1, 0.2, None])
    assert (summary.n, summary.median, summary.low, summary.high) == (3, 0.2, 0.1, 0.3)
    assert summary.format() == "0.200 [0.100, 0.300]" and stats.seed_range([0.25]).format() == "0.250"
    assert stats.seed_range([None, float("inf")]) is None


def test_bootstrap_interval_covers_the_median_is_seeded_and_narrows_with_more_runs():
    rng = np.random.default_rng(0)
    few, many = rng.normal(0.5, 0.1, 9), rng.normal(0.5, 0.1, 900)
    first = stats.bootstrap_median(few)
    assert first == stats.bootstrap_median(few)  # the same values, the same interval
    assert first.low <= first.median <= first.high and first.median == pytest.approx(np.median(few))
    wide, narrow = first.high - first.low, (lambda s: s.high - s.low)(stats.bootstrap_median(many))
    assert narrow < wide / 3
    # The interval of the median lies within the values' range and a constant has no spread at all.
    assert few.min() <= first.low and first.high <= few.max()
    constant = stats.bootstrap_median([0.4] * 5)
    assert (constant.low, constant.high) == (0.4, 0.4)
    with pytest.raises(ValueError, match="level must be in"):
        stats.bootstrap_median(few, level=95)


def test_a_difference_is_called_only_when_intervals_separate():
    a, b, c = stats.Summary(9, 0.5, 0.4, 0.6), stats.Summary(9, 0.7, 0.61, 0.8), stats.Summary(9, 0.65, 0.55, 0.7)
    assert a.separated_from(b) and b.separated_from(a)
    assert not a.separated_from(c) and not c.separated_from(b)


def test_a_point_is_its_run_without_the_seed():
    assert stats.point_of("s=0.1/cnn_beta_vae/beta=4/seed=2") == "s=0.1/cnn_beta_vae/beta=4"
    assert stats.point_of("cnn_beta_vae/beta=4/seed=0") == "cnn_beta_vae/beta=4"
    assert stats.point_of("my_run") == "my_run"
