"""For whom a network's training formulation computes: one run, or K runs of one architecture at once.

The CNN's and the RNN's training formulations (:class:`~benchmarks.models.cnn_vae.BandedEncoder`,
:func:`~benchmarks.models.cnn_vae.layerwise_decoder`, :class:`~benchmarks.models.rnn_vae.FusedEncoder`,
:meth:`~benchmarks.models.rnn_vae.HierarchicalDecoder.decode`) are written once, against the few
operations below. :data:`ONE_RUN` computes them with a run's own weights and layers, exactly as those
layers compute; :class:`benchmarks.models.stacked.StackedRuns` computes the same function for K runs
whose weights are stacked on a leading axis, with each run's own random layers. So a stacked run and a
single run share their network code, and differ only in how a weight is applied.
"""
from __future__ import annotations

from keras import ops


class OneRun:
    """A single run: every operation is its layers' or weights' own."""

    #: The axes in front of a run's batch axis: none.
    leading: tuple = ()

    def weight(self, variable):
        """The value to compute with for ``variable``, a weight of the network."""
        return variable

    def layer(self, layer, x, training=None):
        """``layer`` applied to ``x`` (``training`` is passed to layers with random behaviour)."""
        return layer(x) if training is None else layer(x, training=training)

    def matmul(self, x, kernel):
        """``x @ kernel`` for a kernel from :meth:`weight`."""
        return ops.matmul(x, kernel)

    def bias(self, bias, ndim: int):
        """A bias from :meth:`weight` shaped to add to a tensor of ``ndim`` axes."""
        return bias

    def gather(self, table, indices):
        """Rows ``indices`` of a table from :meth:`weight`."""
        return ops.take(table, indices, axis=0)

    def draw(self, layer, draw):
        """``draw(layer)``, a random draw a layer makes once per batch, for each run."""
        return draw(layer)

    def per_run(self, value, ndim: int):
        """A per-run value from :meth:`draw` shaped to broadcast over a tensor of ``ndim`` axes."""
        return value


#: The single run's operations.
ONE_RUN = OneRun()
