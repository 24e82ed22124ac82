"""Reporting: the results table, the summary over seeds and the figures (:mod:`benchmarks.reporting.report`),
and the statistics over seeds it uses (:mod:`benchmarks.reporting.seed_statistics`)."""
