"""Reporting: the results table, the summary over seeds and the figures (:mod:`benchmarks.reporting.report`),
the statistics over seeds it uses (:mod:`benchmarks.reporting.seed_statistics`), the model zoo of the committed
runs (:mod:`benchmarks.reporting.zoo`), its leaderboard (:mod:`benchmarks.reporting.leaderboard`) and the check of
a submitted run (:mod:`benchmarks.reporting.submission`)."""
