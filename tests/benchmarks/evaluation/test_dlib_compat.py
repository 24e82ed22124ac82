"""disentanglement_lib's own metric unit tests, run unchanged on this stack through benchmarks.evaluation.dlib_compat.

Each of its ``evaluation/metrics/*_test.py`` cases becomes one pytest case. Seven of them fit gradient
boosting or many SVMs for 12 s to 4 min each (DCI, fairness, strong downstream task); they are marked
``slow`` and run only with ``--run-slow`` or ``-m slow`` (tests/conftest.py).
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import unittest

import pytest

from benchmarks.evaluation import dlib_compat  # noqa: F401  (must precede every disentanglement_lib import)

import gin  # noqa: E402
import disentanglement_lib.evaluation.metrics as dlib_metrics  # noqa: E402

SLOW = {
    "dci_test.DCITest.test_metric", "dci_test.DCITest.test_bad_metric",
    "dci_test.DCITest.test_duplicated_latent_space", "fairness_test.FairnessTest.test_metric",
    "strong_downstream_task_test.StrongDownstreamTaskTest.test_task",
    "unified_scores_test.UnifiedScoreTest.test_metric_dci",
    "unified_scores_test.UnifiedScoreTest.test_duplicated_latent_space_dci",
}


def _flatten(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _flatten(item)
        else:
            yield item


def _dlib_test_ids() -> list:
    """Ids of every case in disentanglement_lib's metric test modules, without the package prefix."""
    names = sorted(m.name for m in pkgutil.iter_modules(dlib_metrics.__path__) if m.name.endswith("_test"))
    ids = []
    for name in names:
        if name == "unified_scores_test" and importlib.util.find_spec("seaborn") is None:
            continue  # its plotting helpers import seaborn; covered by test_unified_scores_needs_seaborn
        module = importlib.import_module(f"{dlib_metrics.__name__}.{name}")
        ids += [case.id().removeprefix(dlib_metrics.__name__ + ".")
                for case in _flatten(unittest.defaultTestLoader.loadTestsFromModule(module))]
    return ids


DLIB_TESTS = _dlib_test_ids()


@pytest.mark.parametrize("test_id", [
    pytest.param(t, marks=pytest.mark.slow) if t in SLOW else t for t in DLIB_TESTS])
def test_disentanglement_lib_unit_test(test_id):
    case = unittest.defaultTestLoader.loadTestsFromName(f"{dlib_metrics.__name__}.{test_id}")
    result = unittest.TestResult()
    try:
        case.run(result)
    finally:
        gin.clear_config()  # its tests bind gin parameters globally and never unbind them
    problems = result.failures + result.errors
    assert result.testsRun == 1 and not problems and not result.skipped, "\n".join(p[1] for p in problems)


def test_every_metric_module_is_tested():
    """The 49 cases of the nine metric test modules that need no extra package, slow ones included."""
    assert len([t for t in DLIB_TESTS if not t.startswith("unified_scores_test.")]) == 49
    assert set(SLOW) - set(DLIB_TESTS) <= {t for t in SLOW if t.startswith("unified_scores_test.")}


def test_unified_scores_needs_seaborn():
    """The one metric module beyond the two patches: it imports when seaborn is installed."""
    if importlib.util.find_spec("seaborn") is None:
        with pytest.raises(ModuleNotFoundError, match="seaborn"):
            importlib.import_module("disentanglement_lib.evaluation.metrics.unified_scores")
    else:
        importlib.import_module("disentanglement_lib.evaluation.metrics.unified_scores")


def test_every_metric_and_ground_truth_module_imports():
    packages = [dlib_metrics, importlib.import_module("disentanglement_lib.data.ground_truth")]
    for package in packages:
        for module in pkgutil.iter_modules(package.__path__):
            if module.name.startswith("unified_scores") and importlib.util.find_spec("seaborn") is None:
                continue
            importlib.import_module(f"{package.__name__}.{module.name}")


def test_old_gin_keywords_reach_gin_under_their_new_names():
    @gin.configurable("dlib_compat_probe", blacklist=["hidden"])
    def probe(hidden=1, shown=2):
        return hidden, shown

    try:
        gin.parse_config("dlib_compat_probe.shown = 5")
        assert probe() == (1, 5)
        with pytest.raises(ValueError, match="denylisted"):
            gin.parse_config("dlib_compat_probe.hidden = 5")
    finally:
        gin.clear_config()
    assert "gin.tf" in sys.modules
    dlib_compat.install()  # idempotent: the wrapper is not wrapped again
    assert getattr(gin.configurable, "__wrapped__").__module__ == "gin.config"
