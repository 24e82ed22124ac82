"""Runs every objective's loss, gradients and one optimiser step on the Keras backend this process was
started with, from given weights, batch and random draws, and writes them to an ``.npz``: what
``test_backends.py`` compares across TensorFlow, JAX and PyTorch.

    KERAS_BACKEND=jax python tests/benchmarks/objectives/backend_worker.py WEIGHTS.npz OUT.npz

``WEIGHTS.npz`` holds, per case, the initial weights of its networks (written by the first call, on any
backend, when it does not exist). Every random draw (posterior noise, FactorVAE's permutation, the RNN's
teacher-forcing coin) comes from one numpy generator reset before each computation, in call order, so
every backend sees the same numbers; dropout is off, as Keras' dropout masks come from each backend's own
generator.
"""
from __future__ import annotations

import os
import sys

import keras
import numpy as np
from keras import ops

from benchmarks.models import build_cnn_vae, build_rnn_vae
from benchmarks.objectives import OBJECTIVES, differentiation

ARCHITECTURES = {"cnn": lambda: build_cnn_vae(dropout=0.0), "rnn": lambda: build_rnn_vae(dropout=0.0)}
# Past every warm-up, with the schedules part-way: every term of every objective contributes.
STEP = 40
BATCH = 8
# Every objective on the CNN; the RNN (its teacher-forced decoder) with one objective: an objective's terms
# do not depend on the architecture.
CASES = [("cnn", method) for method in OBJECTIVES] + [("rnn", "beta_vae")]


class Draws:
    """``keras.random.normal`` and ``uniform`` replaced by one numpy generator's draws, in call order."""

    def __init__(self):
        self.generator = np.random.default_rng(7)

    def reset(self):
        self.generator = np.random.default_rng(7)

    def normal(self, shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        values = mean + stddev * self.generator.standard_normal(tuple(int(d) for d in shape))
        return ops.convert_to_tensor(values.astype("float32"))

    def uniform(self, shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        values = self.generator.uniform(minval, maxval, tuple(int(d) for d in shape))
        return ops.convert_to_tensor(np.asarray(values, "float32"))


def build(arch: str, method: str):
    """The case's model, with plain gradient descent (learning rate 1) as every optimiser, so that a step's
    update is minus the gradient, as comparable across backends as the gradient itself (Adam's first
    steps move every weight by about its learning rate, whatever the gradient's size)."""
    objective = OBJECTIVES[method]
    extra = {"discriminator_optimizer": keras.optimizers.SGD(1.0)} if method == "factor_vae" else {}
    model = objective(ARCHITECTURES[arch](), steps_per_epoch=1, **extra)
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    model.build_optimizers()
    return model


def networks(model) -> dict:
    found = {"encoder": model.encoder, "decoder": model.decoder}
    if hasattr(model, "discriminator"):
        found["discriminator"] = model.discriminator
    return found


def batch(method: str):
    rng = np.random.default_rng(3)
    tokens = rng.integers(0, 52, size=(BATCH, 16)).astype("int32")
    if not OBJECTIVES[method].supervised:
        return (tokens,)
    labels = np.stack([rng.integers(0, n, BATCH) for n in (12, 3, 3, 28, 28, 2, 2, 2, 2)], axis=1)
    labels[::3, 0] = -1  # a withheld label
    return tokens, labels.astype("int32")


def train_step(model, data) -> dict:
    """One ``train_step`` as ``fit()`` calls it: on JAX the jitted pure form, its new state written back."""
    if keras.backend.backend() != "jax":
        return model.train_step(data)
    import jax

    groups = (model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
              model.metrics_variables)
    logs, state = jax.jit(model.train_step)(tuple([v.value for v in group] for group in groups), data)
    for group, values in zip(groups, state):
        for variable, value in zip(group, values):
            variable.assign(value)
    return logs


def main(weights_path: str, out_path: str) -> None:
    draws = Draws()
    keras.random.normal, keras.random.uniform = draws.normal, draws.uniform
    initial = dict(np.load(weights_path)) if os.path.exists(weights_path) else {}
    results, written = {}, {}
    for arch, method in CASES:
        keras.utils.set_random_seed(0)
        model = build(arch, method)
        for name, network in networks(model).items():
            key = f"{arch}/{method}/{name}/"
            if key + "0" not in initial:
                for i, value in enumerate(network.get_weights()):
                    written[key + str(i)] = initial[key + str(i)] = value
            network.set_weights([initial[key + str(i)] for i in range(len(network.get_weights()))])
        for optimizer in model.optimizers:
            optimizer.iterations.assign(STEP)
        data = batch(method)
        inputs, labels = data[0], data[1] if len(data) > 1 else None

        def loss():
            terms = model.terms(ops.convert_to_tensor(inputs), training=True,
                                labels=None if labels is None else ops.convert_to_tensor(labels))
            value, _ = model.objective(terms, model.optimizer.iterations)
            return value, terms.reconstruction

        draws.reset()
        value, _, gradients = differentiation.value_and_gradients(loss, model.vae_weights, model.step_variables)
        case = f"{arch}/{method}"
        results[f"{case}/loss"] = np.asarray(ops.convert_to_numpy(value))
        for i, gradient in enumerate(gradients):
            results[f"{case}/gradient/{i}"] = ops.convert_to_numpy(gradient)
        draws.reset()
        logs = train_step(model, tuple(ops.convert_to_tensor(part) for part in data))
        results[f"{case}/step_loss"] = np.asarray(ops.convert_to_numpy(logs["loss"]))
        for name, network in networks(model).items():
            for i, weight in enumerate(network.get_weights()):
                results[f"{case}/stepped/{name}/{i}"] = weight
    if written:
        np.savez(weights_path, **initial)
    np.savez(out_path, backend=keras.backend.backend(), **results)


if __name__ == "__main__":
    main(*sys.argv[1:])
