"""Lets disentanglement_lib 1.5's metrics and ground-truth modules import and run, unchanged, on
TensorFlow 2.21, gin-config 0.5, numpy 2 and current scikit-learn.

disentanglement_lib is TF1-era code; its ``evaluation.metrics`` and ``data.ground_truth`` modules trip
over exactly two things, and this module patches only those, at import time:

1. ``import gin.tf``. Every metric module does it (only to bind the name ``gin``), and gin-config 0.5's
   ``gin.tf`` subclasses ``tf.estimator.SessionRunHook``: TensorFlow 2.16 removed ``tf.estimator``, so
   the import fails. An empty ``gin.tf`` module is registered in its place; none of those modules reads
   anything from ``gin.tf`` itself.
2. ``gin.configurable(..., blacklist=[...])``. gin-config renamed ``blacklist``/``whitelist`` to
   ``denylist``/``allowlist`` and 0.5 dropped the old keywords. ``gin.configurable`` is wrapped so the
   old keywords reach gin under their new names; every other call goes through untouched.

Nothing else is needed: with these two patches disentanglement_lib's own metric unit tests pass on
numpy 2 and scikit-learn 1.9 (``tests/benchmarks/evaluation/test_dlib_compat.py`` runs them). Left alone, and
unused here: ``utils.results`` (its JSON writer uses ``np.float_``, removed in numpy 2), and the modules
that need tensorflow_hub or tensorflow_probability 0.7 (training, postprocessing, ``evaluation.evaluate``).
``evaluation.metrics.unified_scores`` also imports seaborn, through disentanglement_lib's plotting code.

Import this module before any disentanglement_lib module; :func:`install` is idempotent.
"""
from __future__ import annotations

import functools
import sys
import types

import gin

_PATCHED = "_dmelodies_dlib_compat"  # marks our wrapper, so install() never wraps twice


def _accept_old_keywords(configurable):
    """``configurable`` that also takes gin < 0.4's ``blacklist``/``whitelist`` keywords."""

    @functools.wraps(configurable)
    def wrapper(name_or_fn=None, module=None, allowlist=None, denylist=None, *, blacklist=None, whitelist=None):
        return configurable(name_or_fn, module=module,
                            allowlist=allowlist if whitelist is None else whitelist,
                            denylist=denylist if blacklist is None else blacklist)

    setattr(wrapper, _PATCHED, True)
    return wrapper


def install() -> None:
    """Applies both patches (see the module docstring); safe to call any number of times."""
    if "gin.tf" not in sys.modules:  # a working gin.tf (older TensorFlow) is kept as it is
        stub = types.ModuleType("gin.tf", "Stand-in for gin.tf, which needs the removed tf.estimator "
                                          "(installed by benchmarks.evaluation.dlib_compat).")
        sys.modules["gin.tf"] = stub
        gin.tf = stub
    if not getattr(gin.configurable, _PATCHED, False):
        gin.configurable = _accept_old_keywords(gin.configurable)


install()
