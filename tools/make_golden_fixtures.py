"""Write golden fixtures from the original PyTorch implementation, for ``tests/benchmarks/training/test_equivalence.py``.

Why: the project re-implements the paper's networks, objectives and schedules (protocol §6) in Keras. The
surest check that they compute what the original computes is to run the original itself, but the
project's CI has no PyTorch. This script runs the original once, where PyTorch is available, and saves
small ``.npz`` files of weights, inputs and outputs; the equivalence test then needs only NumPy and
Keras. Nothing of the original's code is copied into the project: it is imported from a checkout.

What it records (protocol §6), with a fixed seed and a batch of 8 melodies, vocabulary 62 as in the release:

- ``cnn_vae.npz``, ``rnn_vae.npz``, ``discriminator.npz``: every parameter of the original networks,
  set to random NON-ZERO values (biases, the RNN decoder's learned start vectors included, so bias
  handling is checked), quantised to ``q * 2**e`` with ``q`` a non-zero int8 so that the values are
  exact in float32 and the files stay small; in eval mode (dropout off), the encoders' mean and log-std
  heads, the decoders' logits, and the discriminator's logits. Keys: ``w:<torch name>`` (int8) and
  ``e:<torch name>`` (the power of two), in PyTorch's layout; the test maps them to Keras.
- The RNN decoder decoding freely (argmax feedback, as evaluation does) and teacher-forced (the
  original draws teacher forcing with probability 0.5; its ``teacher_forcing_prob`` is raised above 1
  on the instance so that the draw always forces). The original applies ReLU to its logits (protocol §8, a
  defect this project does not copy); each case is run twice: as released (``*_released``), and with
  that ReLU replaced by the identity on the instance (``*_logits``, the pre-ReLU logits our decoder
  must reproduce). The script checks that the two runs feed back the same tokens (every step's largest
  logit is positive) and that ``relu(logits) == released``, so both comparisons are meaningful.
- ``schedules.npz``: β_t and C_t (and the KL weight ``cur_beta``) of the original trainer's
  ``update_scheduler`` at chosen global iterations, for β ∈ {0.2, 1, 4} and C ∈ {25, 50, 75}, with a
  made-up number of steps per epoch: during warm-up, at its end, while annealing, and held.
- ``losses.npz``: one batch's loss terms computed by the original code's own functions from fixed
  tensors (stored: tokens, logits, z_mean, z_log_std, the std as the original parameterises it, z, the
  second half's z, its permutation): reconstruction cross-entropy, KL, β-VAE and Annealed-VAE losses
  through the original trainer's ``loss_and_acc_for_batch`` at warm-up/annealing/held iterations,
  FactorVAE's loss for γ ∈ {1, 10, 50} with its TC term and the discriminator's loss and accuracy
  through ``FactorVAETrainer``. Two latent batches: KL above and below the thresholds.
- ``training.npz``: training, which a forward pass does not show. For each architecture, from the weights
  of ``cnn_vae.npz``/``rnn_vae.npz`` (their projections recorded, so a test can tell), a batch and a
  fixed posterior noise ε (``Normal.rsample`` replaced at run time by ``loc + ε * scale``, its own
  formula with ε given), dropout rates 0, teacher forcing certain and the RNN's logit ReLU replaced by
  the identity: the loss and the gradient of the reconstruction cross-entropy and of the KL (the
  trainer's own functions); and one iteration of the trainer's own loop (``loss_and_acc_on_epoch`` on a
  one-batch epoch: ``update_scheduler``, ``zero_grad``, the loss, ``backward``, Adam's step), with the
  schedules advanced to 11 epochs + 90,000 steps (90 % annealed) and a fresh optimiser, for the β-VAE
  (β = 4, τ = 50: above its threshold) and the Annealed-VAE (γ = 1, C = 75: below its capacity): the
  loss, its gradient and every parameter's update, and the optimiser's settings. A parameter of up to
  1024 elements is recorded whole (the embeddings, every bias), a larger one at 64 random elements, and
  every one through 8 random projections (``projections``), so that every element counts while the file
  stays at 200 KB (whole tensors would take about 6 MB). Melodies putting a SELU input exactly at 0 are
  redrawn (``_selu_kinks``). Its random draws come from a generator of their own, so the other fixtures
  do not depend on them.

The original needs shims to import on current PyTorch/NumPy without its other dependencies; they are
applied here at run time (stub modules for music21, tqdm, tensorboardX, matplotlib, sklearn, scipy;
``.cuda()`` made the identity), never by editing the original's files.

Regenerate (PyTorch only in a separate virtual environment)::

    python -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.13.0 numpy
    git -C <bare mirror of ashispati/dmelodies_benchmarking> archive HEAD | tar -x -C /tmp/orig
    /tmp/torchenv/bin/python tools/make_golden_fixtures.py --original_repo=/tmp/orig \\
        --original_commit=$(git -C <that mirror> rev-parse HEAD) --out=tests/benchmarks/golden

Everything is computed, in the same order, on every run; ``--only`` writes the named fixtures alone. On
another CPU some values move in their last bits (PyTorch's and NumPy's kernels differ: the CNN encoder's
outputs by up to 1e-6, one schedule by 4e-16), so regenerate only the fixtures that change.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import types
import zlib

import numpy as np

VOCABULARY = 62  # the original hard-codes num_notes = 62
LATENT = 32
STEPS_PER_EPOCH = 200  # made up: the schedules only depend on it through the warm-up length
ANNEALING_STEPS = 100_000
FIXTURES = ("cnn_vae", "rnn_vae", "discriminator", "schedules", "losses", "training")


# --------------------------------------------------------------------------------------------- shims
class _StubModule(types.ModuleType):
    """A module whose every public attribute is a do-nothing callable (for imports never exercised)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None


def import_original(repo: str):
    """Imports the original's modules from ``repo`` with run-time shims; returns them in a namespace."""
    import torch
    import torch._dynamo  # noqa: F401  (imported lazily by torch.optim; it probes modules, stubs included)

    for name in ("music21", "tensorboardX", "matplotlib", "matplotlib.pyplot", "sklearn",
                 "sklearn.feature_selection", "sklearn.metrics", "sklearn.linear_model",
                 "sklearn.preprocessing", "sklearn.svm", "scipy", "scipy.stats"):
        sys.modules.setdefault(name, _StubModule(name))
    tqdm = types.ModuleType("tqdm")
    tqdm.tqdm = lambda iterable=None, *args, **kwargs: iterable
    sys.modules["tqdm"] = tqdm

    # The original moves everything to CUDA unconditionally; on a CPU-only PyTorch that must be a no-op.
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self
    torch.Tensor.cuda = lambda self, *args, **kwargs: self

    sys.path.insert(0, os.path.abspath(repo))
    from src.dmelodiesvae import factor_vae_trainer
    from src.dmelodiesvae.dmelodies_cnnvae import DMelodiesCNNVAE
    from src.dmelodiesvae.dmelodies_cnnvae_trainer import DMelodiesCNNVAETrainer
    from src.dmelodiesvae.dmelodies_vae import DMelodiesVAE
    from src.dmelodiesvae.dmelodies_vae_trainer import DMelodiesVAETrainer
    from src.dmelodiesvae.factor_vae import FactorVAE
    from src.utils.trainer import Trainer

    return types.SimpleNamespace(torch=torch, DMelodiesCNNVAE=DMelodiesCNNVAE, DMelodiesVAE=DMelodiesVAE,
                                 FactorVAE=FactorVAE, DMelodiesVAETrainer=DMelodiesVAETrainer,
                                 DMelodiesCNNVAETrainer=DMelodiesCNNVAETrainer,
                                 FactorVAETrainer=factor_vae_trainer.FactorVAETrainer,
                                 factor_vae_trainer=factor_vae_trainer, Trainer=Trainer)


class _Dataset:
    """The original models only ask their dataset for ``repr``."""

    def __repr__(self):
        return "golden"


# ------------------------------------------------------------------------------------------ weights
def _randomise(module, rng: np.random.Generator) -> dict:
    """Sets every parameter of ``module`` to random non-zero ``q * 2**e`` (q int8) and returns them as
    ``{"w:<name>": q, "e:<name>": e}``. Matrices get about Xavier-normal spread, vectors about 0.25."""
    torch = sys.modules["torch"]
    arrays = {}
    for name, parameter in module.named_parameters():
        shape = tuple(parameter.shape)
        if len(shape) >= 2:
            fan_out, fan_in = shape[0], int(np.prod(shape[1:]))
            std = np.sqrt(2.0 / (fan_in + fan_out))
        else:
            std = 0.25
        q = (1 + np.floor(np.abs(rng.normal(0.0, 3.0, shape)))).clip(1, 127)
        q = (q * rng.choice([-1, 1], shape)).astype(np.int8)
        exponent = int(np.round(np.log2(std / 3.4)))
        values = q.astype(np.float32) * np.float32(2.0 ** exponent)
        with torch.no_grad():
            parameter.copy_(torch.from_numpy(values))
        assert np.all(values != 0)
        arrays[f"w:{name}"], arrays[f"e:{name}"] = q, np.int8(exponent)
    return arrays


def _tokens(rng, batch):
    return rng.integers(0, VOCABULARY, (batch, 16)).astype(np.int64)


def _normal(rng, shape, scale=1.0, shift=0.0):
    return (rng.normal(0.0, scale, shape) + shift).astype(np.float32)


def _encoder_outputs(o, encoder, tokens):
    """The original encoder's mean and log-std heads (the latter caught with a hook) and its std."""
    torch = o.torch
    caught = {}
    hook = encoder.linear_log_std.register_forward_hook(lambda m, i, out: caught.setdefault("x", out))
    with torch.no_grad():
        distribution = encoder(torch.from_numpy(tokens))
    hook.remove()
    return {"z_mean": distribution.loc.numpy(), "z_log_std": caught["x"].numpy(),
            "z_std": distribution.scale.numpy()}


def cnn_fixture(o, rng, batch):
    o.torch.manual_seed(0)
    model = o.DMelodiesCNNVAE(_Dataset())
    arrays = _randomise(model, rng)
    model.eval()
    tokens = _tokens(rng, batch)
    arrays.update({f"encoder_{k}": v for k, v in _encoder_outputs(o, model.encoder, tokens).items()})
    z = _normal(rng, (batch, LATENT))
    with o.torch.no_grad():
        logits, _ = model.decoder(z=o.torch.from_numpy(z))
    arrays.update(tokens=tokens.astype(np.int32), decoder_z=z, decoder_logits=logits.numpy())
    # where the original drops out in training: after every encoder convolution; nowhere in the decoder
    arrays["encoder_dropout_rates"] = np.array(
        [m.p for m in model.encoder.cnn if isinstance(m, o.torch.nn.Dropout)], np.float32)
    arrays["decoder_dropout_count"] = np.int64(
        sum(isinstance(m, o.torch.nn.Dropout) for m in model.decoder.modules()))
    return arrays


def _decode(o, decoder, z, tokens, train):
    with o.torch.no_grad():
        weights, samples = decoder(z=o.torch.from_numpy(z), score_tensor=o.torch.from_numpy(tokens),
                                   train=train)
    return weights.numpy(), samples[:, 0, :].numpy().astype(np.int32)


def rnn_fixture(o, rng, batch):
    torch = o.torch
    torch.manual_seed(0)
    model = o.DMelodiesVAE(_Dataset())
    arrays = _randomise(model, rng)
    model.eval()  # no dropout anywhere; the decoder's own `train` argument is what picks teacher forcing
    tokens = _tokens(rng, batch)
    arrays.update({f"encoder_{k}": v for k, v in _encoder_outputs(o, model.encoder, tokens).items()})
    z = _normal(rng, (batch, LATENT))
    decoder = model.decoder
    assert decoder.use_teacher_forcing and decoder.sampling == "argmax"
    released_head = decoder.tick_emb_to_note_emb[1]
    assert isinstance(released_head, torch.nn.ReLU), "the release's ReLU on the logits (protocol §8) moved"
    outputs = {}
    for case, train in (("free", False), ("teacher_forced", True)):
        # teacher_forced: the original draws `torch.rand(1) < teacher_forcing_prob`; above 1 it always forces.
        decoder.teacher_forcing_prob = 2.0 if train else 0.5
        released, released_tokens = _decode(o, decoder, z, tokens, train)
        decoder.tick_emb_to_note_emb[1] = torch.nn.Identity()  # protocol §8: no activation on the logits
        logits, fed_tokens = _decode(o, decoder, z, tokens, train)
        decoder.tick_emb_to_note_emb[1] = released_head
        np.testing.assert_array_equal(released_tokens, fed_tokens)
        np.testing.assert_array_equal(np.maximum(logits, 0.0), released)
        if train:
            np.testing.assert_array_equal(fed_tokens, tokens)  # the targets were fed back
        else:
            assert np.all(logits.max(-1) > 0), "a step's logits are all negative: ReLU changes its argmax"
            top2 = np.sort(logits, axis=-1)[..., -2:]
            assert np.min(top2[..., 1] - top2[..., 0]) > 1e-3, "argmax too close to a tie: pick another seed"
        outputs.update({f"decoder_{case}_logits": logits, f"decoder_{case}_released": released,
                        f"decoder_{case}_tokens": fed_tokens})
    decoder.teacher_forcing_prob = 0.5
    # the GRUs' between-layer dropout in training: encoder, bar-level (rnn_beat), slot-level (rnn_tick)
    arrays["gru_dropout_rates"] = np.array(
        [model.encoder.lstm.dropout, decoder.rnn_beat.dropout, decoder.rnn_tick.dropout], np.float32)
    assert model.encoder.lstm.num_layers == decoder.rnn_beat.num_layers == decoder.rnn_tick.num_layers == 2
    arrays.update(tokens=tokens.astype(np.int32), decoder_z=z, **outputs)
    return arrays


def discriminator_fixture(o, rng, batch):
    o.torch.manual_seed(0)
    factor_vae = o.FactorVAE(_Dataset(), vae_type="CNN")
    arrays = _randomise(factor_vae.discriminator, rng)
    factor_vae.eval()
    z = _normal(rng, (batch, LATENT), 1.5)
    with o.torch.no_grad():
        logits = factor_vae.discriminator(o.torch.from_numpy(z))
    arrays.update(z=z, logits=logits.numpy())
    return arrays, factor_vae


# ---------------------------------------------------------------------------------------- schedules
SCHEDULES = [("beta-VAE", beta, 50.0) for beta in (0.2, 1.0, 4.0)] + [
    ("annealed-VAE", 1.0, capacity) for capacity in (25.0, 50.0, 75.0)]


def _schedule_iterations():
    s, w = STEPS_PER_EPOCH, 11 * STEPS_PER_EPOCH  # the original's `epoch_num > 10`: 11 warm-up epochs
    n = ANNEALING_STEPS
    return sorted({s, 5 * s, 10 * s, w - 1, w, w + 1, w + 10, w + 1000, w + 25_000, w + 50_000, w + 75_000,
                   w + n - 2, w + n - 1, w + n, w + n + 1, w + n + 5 * s})


def _trainer(o, model_type, beta, capacity, model):
    trainer = o.DMelodiesVAETrainer(_Dataset(), model, model_type=model_type, beta=beta, capacity=capacity)
    assert trainer.warm_up_epochs == 10 and trainer.num_iterations == ANNEALING_STEPS
    return trainer


def _tag(model_type, beta, capacity):
    return f"beta_vae_{beta:g}" if model_type == "beta-VAE" else f"annealed_vae_{capacity:g}"


class _FixedForward:
    """Stands in for the original model inside its trainer: returns fixed tensors, like ``forward``."""

    def __init__(self, o, logits, z_mean, z_log_std, z, discriminator=None, z_second_half=None):
        torch = o.torch
        # as the original parameterises the posterior: scale = exp(log-std head)
        posterior = torch.distributions.Normal(torch.from_numpy(z_mean), torch.exp(torch.from_numpy(z_log_std)))
        prior = torch.distributions.Normal(torch.zeros_like(posterior.loc), torch.ones_like(posterior.scale))
        # (weights, samples, z_dist, prior_dist, z_tilde, z_prior), the order the original's forward returns
        self.outputs = (torch.from_numpy(logits), None, posterior, prior, torch.from_numpy(z), None)
        self.discriminator = discriminator
        self.VAE = types.SimpleNamespace(encode=lambda measure_score_tensor: torch.from_numpy(z_second_half))

    def __call__(self, measure_score_tensor, measure_metadata_tensor, train=True):
        return self.outputs


def schedules_and_losses(o, rng, batch, model, factor_vae):
    torch = o.torch
    tokens = _tokens(rng, batch)
    logits = _normal(rng, (batch, 16, VOCABULARY), 2.0)
    latents = {}
    for name, mean_scale in (("high_kl", 2.2), ("low_kl", 0.9)):
        z_mean = _normal(rng, (batch, LATENT), mean_scale)
        z_log_std = _normal(rng, (batch, LATENT), 0.3, -0.3)
        z = z_mean + np.exp(z_log_std) * _normal(rng, (batch, LATENT))
        latents[name] = dict(z_mean=z_mean, z_log_std=z_log_std, z_std=np.exp(z_log_std).astype(np.float32),
                             z=z.astype(np.float32))
    losses = {"tokens": tokens.astype(np.int32), "logits": logits}
    for name, tensors in latents.items():
        losses.update({f"{name}_{k}": v for k, v in tensors.items()})
        stub = _FixedForward(o, logits, tensors["z_mean"], tensors["z_log_std"], tensors["z"])
        with torch.no_grad():
            losses["reconstruction"] = np.float32(o.Trainer.mean_crossentropy_loss(
                stub.outputs[0], torch.from_numpy(tokens)).item())
            losses[f"{name}_kl"] = np.float32(o.Trainer.compute_kld_loss(stub.outputs[2], stub.outputs[3],
                                                                         beta=1.0, c=0.0).item())

    iterations = _schedule_iterations()
    w = 11 * STEPS_PER_EPOCH
    loss_iterations = [5 * STEPS_PER_EPOCH, w - 1, w, w + 50_000, w + ANNEALING_STEPS + 5 * STEPS_PER_EPOCH]
    schedules = {"steps_per_epoch": np.int64(STEPS_PER_EPOCH), "annealing_steps": np.int64(ANNEALING_STEPS),
                 "original_warm_up_epochs_attribute": np.int64(10), "iterations": np.array(iterations),
                 "loss_iterations": np.array(loss_iterations)}
    for model_type, beta, capacity in SCHEDULES:
        tag = _tag(model_type, beta, capacity)
        trainer = _trainer(o, model_type, beta, capacity, model)
        values = {"kl_weight": [], "beta": [], "capacity": []}
        for name in latents:
            losses[f"{tag}_{name}_loss"] = []
        for g in range(max(iterations + loss_iterations) + 1):
            trainer.update_scheduler(g // STEPS_PER_EPOCH)  # called before every training batch
            if g in iterations:
                # beta-VAE: β_t is cur_beta, τ is cur_capacity; annealed-VAE: γ is cur_beta, C_t cur_capacity
                values["kl_weight"].append(float(trainer.cur_beta))
                values["beta"].append(float(trainer.cur_beta) if model_type == "beta-VAE" else np.nan)
                values["capacity"].append(float(trainer.cur_capacity))
            if g in loss_iterations:
                for name, tensors in latents.items():
                    trainer.model = _FixedForward(o, logits, tensors["z_mean"], tensors["z_log_std"], tensors["z"])
                    with torch.no_grad():
                        # epoch_num == cur_epoch_num (0) keeps the trainer from logging to TensorBoard
                        loss, _ = trainer.loss_and_acc_for_batch((torch.from_numpy(tokens), None), epoch_num=0,
                                                                 batch_num=0, train=True)
                    losses[f"{tag}_{name}_loss"].append(loss.item())
        for key, series in values.items():
            schedules[f"{tag}_{key}"] = np.array(series)
        for name in latents:
            losses[f"{tag}_{name}_loss"] = np.array(losses[f"{tag}_{name}_loss"])
    losses["loss_iterations"] = np.array(loss_iterations)

    # FactorVAE through the original FactorVAETrainer: β = 1 (its scripts also ran 0.2), C = 50, γ grid.
    z_second_half = _normal(rng, (batch, LATENT), 1.3)
    losses["z_second_half"] = z_second_half
    captured = {}
    original_permute = o.factor_vae_trainer.permute_dims

    def permute_and_keep(z):
        captured["z"] = original_permute(z)
        return captured["z"]

    o.factor_vae_trainer.permute_dims = permute_and_keep
    tensors = latents["high_kl"]
    for gamma in (1, 10, 50):
        trainer = o.FactorVAETrainer(_Dataset(), factor_vae, beta=1.0, capacity=50.0, gamma=gamma, lr=1e-4, rand=0)
        trainer.update_scheduler(0)
        trainer.model = _FixedForward(o, logits, tensors["z_mean"], tensors["z_log_std"], tensors["z"],
                                      discriminator=factor_vae.discriminator, z_second_half=z_second_half)
        torch.manual_seed(0)
        with torch.no_grad():
            loss, _, d_z = trainer.loss_and_acc_for_batch((torch.from_numpy(tokens), None), epoch_num=0,
                                                          batch_num=0, train=True)
            d_loss, d_accuracy = trainer.loss_and_acc_for_batch_D((torch.from_numpy(tokens), None), d_z,
                                                                  epoch_num=0, batch_num=0, train=True)
        losses[f"factor_vae_{gamma}_loss"] = np.float32(loss.item())
        losses["discriminator_logits_joint"] = d_z.numpy()
        # the original's TC expression, from the discriminator logits its trainer returned
        losses["total_correlation"] = np.float32((d_z[:, :1] - d_z[:, 1:]).mean().item())
        losses["discriminator_loss"] = np.float32(d_loss.item())
        losses["discriminator_accuracy"] = np.float32(d_accuracy.item())
        losses["z_permuted"] = captured["z"].numpy()
    o.factor_vae_trainer.permute_dims = original_permute
    assert not np.array_equal(losses["z_permuted"], z_second_half)
    return schedules, losses


# ----------------------------------------------------------------------------------------- training
# One training iteration of each objective, during annealing: global iteration 11 epochs (the original's
# warm-up) + 90,000 annealing steps, i.e. 90 % of the way to the target.
TRAINING_ITERATION = 11 * STEPS_PER_EPOCH + 90_000
# (tag, the original's model_type, its `beta`, its `capacity`): β-VAE with β = 4 and threshold τ = 50
# (the original's `capacity` argument is τ for the β-VAE); Annealed-VAE with γ = 1 and C = 75.
TRAINING_OBJECTIVES = (("beta_vae", "beta-VAE", 4.0, 50.0), ("annealed_vae", "annealed-VAE", 1.0, 75.0))
FULL_TENSOR = 1024  # tensors up to this many elements are recorded whole; larger ones sampled
SAMPLED = 64  # elements recorded of a larger tensor, at random flat indices
PROJECTIONS = 8


def projections(name: str, values: np.ndarray) -> np.ndarray:
    """``R x / sqrt(n)`` for the flattened tensor ``x`` (PyTorch layout) and a standard-normal ``R`` of
    PROJECTIONS rows drawn from NumPy's legacy ``RandomState`` (whose stream NumPy keeps fixed) seeded by
    the CRC-32 of the parameter's name: the test draws the same ``R``. Every element takes part."""
    flat = np.asarray(values, np.float64).ravel()
    r = np.random.RandomState(zlib.crc32(name.encode())).standard_normal((PROJECTIONS, flat.size))
    return r @ flat / np.sqrt(flat.size)


def _set_parameters(module, arrays: dict) -> None:
    """Copies the weights another fixture recorded (``w:``/``e:`` keys) into ``module``, every one of them."""
    torch = sys.modules["torch"]
    names = {name for name, _ in module.named_parameters()}
    assert names == {key[2:] for key in arrays if key.startswith("w:")}
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            value = arrays[f"w:{name}"].astype(np.float32) * np.float32(2.0 ** int(arrays[f"e:{name}"]))
            parameter.copy_(torch.from_numpy(value))


@contextlib.contextmanager
def _fixed_posterior_noise(torch, epsilon: np.ndarray):
    """``Normal.rsample`` as the original's PyTorch computes it, ``loc + eps * scale``, with ``eps`` the
    recorded one instead of a fresh draw (the original's encoders return a ``Normal``; its VAEs call
    ``rsample`` once per forward pass, for the posterior)."""
    released = torch.distributions.Normal.rsample
    calls = []

    def rsample(self, sample_shape=torch.Size()):
        assert tuple(sample_shape) == () and tuple(self.loc.shape) == epsilon.shape
        calls.append(1)
        return self.loc + torch.from_numpy(epsilon) * self.scale

    torch.distributions.Normal.rsample = rsample
    try:
        yield calls
    finally:
        torch.distributions.Normal.rsample = released


def _training_model(o, arch: str, weights: dict):
    """The original VAE with ``weights``, in training mode, made deterministic: dropout rates 0 (they are
    the only modules that act differently in training), teacher forcing certain, and the RNN decoder's
    ReLU on its logits (protocol §8) replaced by the identity."""
    torch = o.torch
    model = o.DMelodiesCNNVAE(_Dataset()) if arch == "cnn" else o.DMelodiesVAE(_Dataset())
    _set_parameters(model, weights)
    model.train()
    for module in model.modules():
        assert not isinstance(module, torch.nn.modules.batchnorm._NormBase)
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(module, torch.nn.GRU):
            module.dropout = 0.0
    if arch == "rnn":
        decoder = model.decoder
        assert isinstance(decoder.tick_emb_to_note_emb[1], torch.nn.ReLU), "the ReLU of protocol §8 moved"
        decoder.tick_emb_to_note_emb[1] = torch.nn.Identity()
        decoder.teacher_forcing_prob = 2.0  # the original draws `torch.rand(1) < prob`: above 1 it always forces
    return model


def _selu_kinks(o, model, score, epsilon) -> np.ndarray:
    """Per melody, whether an input of one of the model's SELUs is exactly 0 in a training forward pass.
    SELU has a kink there, and the frameworks take different sides: PyTorch's derivative at 0 is λα
    (1.7581), TensorFlow's λ (1.0507). With weights and embeddings of few bits (``_randomise``), the
    first convolution's sums cancel exactly for some tokens; such a melody would compare the two
    frameworks' conventions at the kink, not the two models."""
    torch, kinks = o.torch, []
    hooks = [module.register_forward_pre_hook(lambda m, inputs: kinks.append((inputs[0] == 0).flatten(1).any(1)))
             for module in model.modules() if isinstance(module, torch.nn.SELU)]
    with torch.no_grad(), _fixed_posterior_noise(torch, epsilon):
        model(score, None, train=True)
    for hook in hooks:
        hook.remove()
    assert kinks
    return torch.stack(kinks).any(0).numpy()


def _selu_derivative_at_zero(torch) -> float:
    x = torch.zeros(1, requires_grad=True)
    torch.nn.SELU()(x).sum().backward()
    return float(x.grad)


class _NoWriter:
    """The trainer logs to TensorBoard on a batch whose epoch differs from the last one it saw."""

    def add_scalar(self, *args, **kwargs):
        pass


def _record(arrays: dict, prefix: str, quantity: str, names: list, tensors: dict, indices: dict) -> None:
    """``{prefix}:{quantity}``: the recorded elements of every parameter, concatenated in the order of
    ``names`` (zeros for a parameter absent from ``tensors``, i.e. without a gradient); and
    ``{prefix}:{quantity}_projections``: each parameter's projections, one row per parameter."""
    values, rows = [], []
    for name in names:
        value = np.asarray(tensors[name], np.float32) if name in tensors else None
        if value is None:  # a parameter without a gradient
            values.append(np.zeros(indices[name].size, np.float32))
            rows.append(np.zeros(PROJECTIONS))
            continue
        values.append(value.ravel()[indices[name]])
        rows.append(projections(name, value))
    arrays[f"{prefix}:{quantity}"] = np.concatenate(values)
    arrays[f"{prefix}:{quantity}_projections"] = np.stack(rows)


def training_fixture(o, rng, batch, weights_by_arch: dict) -> dict:
    """The gradients of each loss term and one Adam step of each objective, for both architectures."""
    torch = o.torch
    s, w = STEPS_PER_EPOCH, 11 * STEPS_PER_EPOCH
    arrays = {"iteration": np.int64(TRAINING_ITERATION), "steps_per_epoch": np.int64(s),
              "annealing_steps": np.int64(ANNEALING_STEPS), "projection_count": np.int64(PROJECTIONS)}
    for tag, model_type, beta, capacity in TRAINING_OBJECTIVES:
        arrays.update({f"{tag}_beta": np.float64(beta), f"{tag}_capacity": np.float64(capacity)})
    arrays["torch_selu_derivative_at_zero"] = np.float64(_selu_derivative_at_zero(torch))
    for arch, weights in weights_by_arch.items():
        model = _training_model(o, arch, weights)
        tokens, epsilon, redrawn = _tokens(rng, batch), _normal(rng, (batch, LATENT)), 0
        for _ in range(100):  # redraw the melodies that put a SELU input exactly at its kink (_selu_kinks)
            kinks = _selu_kinks(o, model, torch.from_numpy(tokens), epsilon)
            if not kinks.any():
                break
            tokens[kinks] = _tokens(rng, int(kinks.sum()))
            redrawn += int(kinks.sum())
        else:
            raise AssertionError("melodies keep putting a SELU input exactly at 0")
        arrays[f"{arch}:redrawn_melodies"] = np.int64(redrawn)
        names = [name for name, _ in model.named_parameters()]
        indices = {}
        for name, parameter in model.named_parameters():
            n = parameter.numel()
            indices[name] = np.arange(n) if n <= FULL_TENSOR else np.sort(rng.choice(n, SAMPLED, replace=False))
        arrays.update({
            f"{arch}:names": np.array(names),
            f"{arch}:sizes": np.array([parameter.numel() for _, parameter in model.named_parameters()]),
            f"{arch}:index": np.concatenate([indices[n] for n in names]).astype(np.int32),
            f"{arch}:index_counts": np.array([indices[n].size for n in names], np.int32),
            f"{arch}:tokens": tokens.astype(np.int32), f"{arch}:epsilon": epsilon})
        arrays[f"{arch}:weight_projections"] = np.stack(
            [projections(name, parameter.detach().numpy()) for name, parameter in model.named_parameters()])
        score = torch.from_numpy(tokens)

        # The loss terms, each differentiated alone: the original trainer's reconstruction loss and its KL
        # (compute_kld_loss with weight 1 and capacity 0 is the KL itself).
        with _fixed_posterior_noise(torch, epsilon) as calls:
            logits, _, posterior, prior, z, _ = model(score, None, train=True)
        assert len(calls) == 1
        np.testing.assert_allclose(z.detach().numpy(), (posterior.loc + torch.from_numpy(epsilon)
                                                        * posterior.scale).detach().numpy(), rtol=0, atol=0)
        terms = {"reconstruction": o.DMelodiesVAETrainer.reconstruction_loss(x=score, x_recons=logits),
                 "kl": o.Trainer.compute_kld_loss(posterior, prior, beta=1.0, c=0.0)}
        parameters = [parameter for _, parameter in model.named_parameters()]
        no_gradient = {}
        for term, value in terms.items():
            gradients = torch.autograd.grad(value, parameters, retain_graph=True, allow_unused=True)
            arrays[f"{arch}:loss:{term}"] = np.float32(value.item())
            _record(arrays, arch, f"gradient_{term}", names,
                    {n: g.numpy() for n, g in zip(names, gradients) if g is not None}, indices)
            no_gradient[term] = sorted(n for n, g in zip(names, gradients) if g is None)
            arrays[f"{arch}:no_gradient_{term}"] = np.array(no_gradient[term], dtype=str)
        kl = terms["kl"].item()

        # One iteration of the original's training loop (Trainer.loss_and_acc_on_epoch on a one-batch
        # epoch: update_scheduler, zero_grad, loss_and_acc_for_batch, backward, Adam's step) with a fresh
        # optimiser, the schedules advanced to TRAINING_ITERATION first.
        trainer_class = o.DMelodiesCNNVAETrainer if arch == "cnn" else o.DMelodiesVAETrainer
        for tag, model_type, beta, capacity in TRAINING_OBJECTIVES:
            model = _training_model(o, arch, weights)
            trainer = trainer_class(_Dataset(), model, model_type=model_type, beta=beta, capacity=capacity)
            trainer.writer = _NoWriter()
            (group,) = trainer.optimizer.param_groups
            arrays["adam"] = np.array([group["lr"], *group["betas"], group["eps"]])
            assert not group["amsgrad"] and group["weight_decay"] == 0 and not group["maximize"]
            for g in range(TRAINING_ITERATION):
                trainer.update_scheduler(g // s)
            before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
            labels = torch.zeros((batch, 9), dtype=torch.int64)  # the loss does not read them
            with _fixed_posterior_noise(torch, epsilon) as calls:
                loss, _ = trainer.loss_and_acc_on_epoch([(score, labels)], epoch_num=TRAINING_ITERATION // s,
                                                        train=True)
            assert len(calls) == 1 and trainer.global_iter == 1
            assert trainer.anneal_iterations == TRAINING_ITERATION - w + 1  # the value of annealing step g - w
            arrays[f"{tag}_kl_weight"] = np.float64(trainer.cur_beta)
            arrays[f"{tag}_schedule_capacity"] = np.float64(trainer.cur_capacity)
            arrays[f"{arch}:loss:{tag}"] = np.float32(loss)
            gradients = {name: p.grad.numpy().copy() for name, p in model.named_parameters()
                         if p.grad is not None}
            assert sorted(set(names) - set(gradients)) == no_gradient["reconstruction"]
            arrays[f"{arch}:no_gradient_{tag}"] = np.array(no_gradient["reconstruction"], dtype=str)
            _record(arrays, arch, f"gradient_{tag}", names, gradients, indices)
            # the update, exact in float32: p and p - update are within a factor 2 of each other
            assert min(float(p.abs().min()) for p in before.values()) > 4 * group["lr"]
            steps = {name: (p.detach() - before[name]).numpy() for name, p in model.named_parameters()}
            for name in no_gradient["reconstruction"]:
                assert not np.any(steps[name]), f"{name} has no gradient, yet Adam moved it"
            _record(arrays, arch, f"step_{tag}", names, steps, indices)
            # the branch of the loss this iteration takes: β-VAE above its threshold, Annealed-VAE below C_t
            if model_type == "beta-VAE":
                assert trainer.cur_beta * kl - capacity > 5.0, (trainer.cur_beta, kl)
            else:
                assert trainer.cur_capacity - kl > 5.0, (trainer.cur_capacity, kl)
    return arrays


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--original_repo", required=True,
                        help="a checkout (work tree) of ashispati/dmelodies_benchmarking")
    parser.add_argument("--out", default="tests/benchmarks/golden", help="folder for the .npz files")
    parser.add_argument("--seed", type=int, default=0, help="seeds the random weights and tensors")
    parser.add_argument("--batch", type=int, default=8, help="melodies per batch")
    parser.add_argument("--original_commit", default="",
                        help="the original's commit, recorded in the fixtures (read from git if empty)")
    parser.add_argument("--only", nargs="*", default=None, choices=FIXTURES,
                        help="write only these fixtures (all are computed, in the same order, either way)")
    args = parser.parse_args(argv)

    o = import_original(args.original_repo)
    o.torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    cnn = cnn_fixture(o, rng, args.batch)
    rnn = rnn_fixture(o, rng, args.batch)
    discriminator, factor_vae = discriminator_fixture(o, rng, args.batch)
    cnn_model = o.DMelodiesCNNVAE(_Dataset())  # only gives the trainers parameters to hold
    schedules, losses = schedules_and_losses(o, rng, args.batch, cnn_model, factor_vae)
    # its own generator, so that the fixtures above do not depend on it
    training = training_fixture(o, np.random.default_rng([args.seed, 1]), args.batch, {"cnn": cnn, "rnn": rnn})
    git_head = args.original_commit or os.popen(
        f"git -C {args.original_repo} rev-parse HEAD 2>/dev/null").read().strip()
    provenance = json.dumps({"torch": o.torch.__version__, "numpy": np.__version__, "seed": args.seed,
                             "batch": args.batch, "original_commit": git_head or "unknown (not a git work tree)"})
    for name, arrays in (("cnn_vae", cnn), ("rnn_vae", rnn), ("discriminator", discriminator),
                         ("schedules", schedules), ("losses", losses), ("training", training)):
        if args.only is not None and name not in args.only:
            continue
        path = os.path.join(args.out, f"{name}.npz")
        np.savez_compressed(path, provenance=np.array(provenance), **arrays)
        print(f"{path}: {os.path.getsize(path):,} bytes")


if __name__ == "__main__":
    main()
