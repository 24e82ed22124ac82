"""Write golden fixtures from the original PyTorch implementation, for ``tests/benchmarks/test_equivalence.py``.

Why: the project re-implements the paper's networks, objectives and schedules (SPEC §6) in Keras. The
surest check that they compute what the original computes is to run the original itself, but the
project's CI has no PyTorch. This script runs the original once, where PyTorch is available, and saves
small ``.npz`` files of weights, inputs and outputs; the equivalence test then needs only NumPy and
Keras. Nothing of the original's code is copied into the project: it is imported from a checkout.

What it records (SPEC §6), with a fixed seed and a batch of 8 melodies, vocabulary 62 as in the release:

- ``cnn_vae.npz``, ``rnn_vae.npz``, ``discriminator.npz``: every parameter of the original networks,
  set to random NON-ZERO values (biases, the RNN decoder's learned start vectors included, so bias
  handling is checked), quantised to ``q * 2**e`` with ``q`` a non-zero int8 so that the values are
  exact in float32 and the files stay small; in eval mode (dropout off), the encoders' mean and log-std
  heads, the decoders' logits, and the discriminator's logits. Keys: ``w:<torch name>`` (int8) and
  ``e:<torch name>`` (the power of two), in PyTorch's layout; the test maps them to Keras.
- The RNN decoder decoding freely (argmax feedback, as evaluation does) and teacher-forced (the
  original draws teacher forcing with probability 0.5; its ``teacher_forcing_prob`` is raised above 1
  on the instance so that the draw always forces). The original applies ReLU to its logits (SPEC §8, a
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

The original needs shims to import on current PyTorch/NumPy without its other dependencies; they are
applied here at run time (stub modules for music21, tqdm, tensorboardX, matplotlib, sklearn, scipy;
``.cuda()`` made the identity), never by editing the original's files.

Regenerate (PyTorch only in a separate virtual environment)::

    python -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.13.0 numpy
    git -C <bare mirror of ashispati/dmelodies_benchmarking> archive HEAD | tar -x -C /tmp/orig
    /tmp/torchenv/bin/python tools/make_golden_fixtures.py --original_repo=/tmp/orig \\
        --out=tests/benchmarks/golden
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import types

import numpy as np

VOCABULARY = 62  # the original hard-codes num_notes = 62
LATENT = 32
STEPS_PER_EPOCH = 200  # made up: the schedules only depend on it through the warm-up length
ANNEALING_STEPS = 100_000


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
    from src.dmelodiesvae.dmelodies_vae import DMelodiesVAE
    from src.dmelodiesvae.dmelodies_vae_trainer import DMelodiesVAETrainer
    from src.dmelodiesvae.factor_vae import FactorVAE
    from src.utils.trainer import Trainer

    return types.SimpleNamespace(torch=torch, DMelodiesCNNVAE=DMelodiesCNNVAE, DMelodiesVAE=DMelodiesVAE,
                                 FactorVAE=FactorVAE, DMelodiesVAETrainer=DMelodiesVAETrainer,
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
    assert isinstance(released_head, torch.nn.ReLU), "the release's ReLU on the logits (SPEC §8) moved"
    outputs = {}
    for case, train in (("free", False), ("teacher_forced", True)):
        # teacher_forced: the original draws `torch.rand(1) < teacher_forcing_prob`; above 1 it always forces.
        decoder.teacher_forcing_prob = 2.0 if train else 0.5
        released, released_tokens = _decode(o, decoder, z, tokens, train)
        decoder.tick_emb_to_note_emb[1] = torch.nn.Identity()  # SPEC §8: no activation on the logits
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--original_repo", required=True,
                        help="a checkout (work tree) of ashispati/dmelodies_benchmarking")
    parser.add_argument("--out", default="tests/benchmarks/golden", help="folder for the .npz files")
    parser.add_argument("--seed", type=int, default=0, help="seeds the random weights and tensors")
    parser.add_argument("--batch", type=int, default=8, help="melodies per batch")
    parser.add_argument("--original_commit", default="",
                        help="the original's commit, recorded in the fixtures (read from git if empty)")
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
    git_head = args.original_commit or os.popen(
        f"git -C {args.original_repo} rev-parse HEAD 2>/dev/null").read().strip()
    provenance = json.dumps({"torch": o.torch.__version__, "numpy": np.__version__, "seed": args.seed,
                             "batch": args.batch, "original_commit": git_head or "unknown (not a git work tree)"})
    for name, arrays in (("cnn_vae", cnn), ("rnn_vae", rnn), ("discriminator", discriminator),
                         ("schedules", schedules), ("losses", losses)):
        path = os.path.join(args.out, f"{name}.npz")
        np.savez_compressed(path, provenance=np.array(provenance), **arrays)
        print(f"{path}: {os.path.getsize(path):,} bytes")


if __name__ == "__main__":
    main()
