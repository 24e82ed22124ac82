"""One training step on every Keras backend: TensorFlow, JAX and PyTorch.

An objective writes its step once, as if variables were mutable (as they are on TensorFlow and
PyTorch): compute a loss, take its gradients with :func:`value_and_gradients`, apply them with
:func:`apply_gradients`, update the loss trackers. On JAX, Keras' ``fit()`` jits a pure function of
the variables' values instead (Keras 3's guides on customising ``fit()`` show each backend's form);
:func:`stateless_step` runs the same step as that function, with every variable read from, and every
update written to, a :class:`keras.StatelessScope`.

The gradients are the backend's own automatic differentiation, dense everywhere: TensorFlow's sparse
embedding gradient is summed into a dense one first (see :func:`dense_gradients`), as PyTorch's and
JAX's already are.
"""
from __future__ import annotations

from typing import Callable, Sequence

import keras

BACKENDS = ("tensorflow", "jax", "torch")


def backend() -> str:
    """Keras' backend (``KERAS_BACKEND``), checked to be one the benchmark trains on."""
    name = keras.backend.backend()
    if name not in BACKENDS:
        raise ValueError(f"the benchmark trains on the Keras backends {', '.join(BACKENDS)}, not {name!r}")
    return name


def dense_gradients(gradients: list) -> list:
    """TensorFlow's gradients as dense tensors, an embedding's included.

    An embedding's gradient comes as ``IndexedSlices``, one slice per token occurrence, duplicates
    unsummed; Keras 3's Adam applies those slices one by one (``scatter_add`` of (g_i − m)(1 − β1) and
    of (g_i² − v)(1 − β2) for each), which is not Adam: it accumulates Σ g_i² where Adam has (Σ g_i)²,
    and a token seen n times in a batch moved by up to √n times the learning rate per step (on
    dMelodies, tens of times). Summed first, as PyTorch's dense embedding gradient is (the original's
    optimiser, protocol §6), the update is Adam's.
    """
    import tensorflow as tf

    return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in gradients]


def value_and_gradients(loss_fn: Callable[[], tuple], weights: Sequence, variables: Sequence = ()) -> tuple:
    """``loss, aux, gradients``: ``loss_fn() -> (loss, aux)`` evaluated once, and the gradients of
    ``loss`` with respect to ``weights`` (in their order).

    ``variables`` lists every variable ``loss_fn`` reads or updates besides ``weights`` (random
    generators' states, the optimiser's step counter): on JAX the loss must be a pure function, so it
    runs in its own scope and its updates to them are carried back out. The other backends ignore it.
    """
    name = backend()
    if name == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, aux = loss_fn()
        return loss, aux, dense_gradients(tape.gradient(loss, list(weights)))
    if name == "torch":
        import torch

        loss, aux = loss_fn()
        tensors = [weight.value for weight in weights]
        gradients = torch.autograd.grad(loss, tensors, allow_unused=True)
        return loss, aux, [torch.zeros_like(t) if g is None else g for t, g in zip(tensors, gradients)]
    import jax

    others = [variable for variable in variables if not _contains(weights, variable)]
    current = [variable.value for variable in others]  # the enclosing scope's values, if any

    def pure_loss(weight_values):
        mapping = list(zip(others, current)) + list(zip(weights, weight_values))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            loss, aux = loss_fn()
        return loss, (aux, [scope.get_current_value(variable) for variable in others])

    (loss, (aux, updated)), gradients = jax.value_and_grad(pure_loss, has_aux=True)(
        [weight.value for weight in weights])
    for variable, value in zip(others, updated):
        variable.assign(value)
    return loss, aux, gradients


def apply_gradients(optimizer: keras.optimizers.Optimizer, gradients: Sequence, weights: Sequence) -> None:
    """One optimiser update (outside PyTorch's autograd, where it must not be recorded)."""
    if backend() == "torch":
        import torch

        with torch.no_grad():
            optimizer.apply(list(gradients), list(weights))
    else:
        optimizer.apply(list(gradients), list(weights))


def stateless_step(step: Callable, groups: Sequence[Sequence], state: Sequence[Sequence], data) -> tuple:
    """``logs, new_state``: the stateful ``step(data)`` run as a pure function of ``state``, the values of
    the variable ``groups`` (Keras' JAX ``train_step``/``test_step`` form)."""
    mapping = [(variable, value) for group, values in zip(groups, state) for variable, value in zip(group, values)]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = step(data)
    return logs, tuple([scope.get_current_value(variable) for variable in group] for group in groups)


def _contains(variables: Sequence, variable) -> bool:
    return any(candidate is variable for candidate in variables)
