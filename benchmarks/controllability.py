"""Controllability: which factors each latent dimension changes when it alone is moved (beyond the paper).

Disentanglement metrics read the encoder only. A generative model is used the other way round: one
turns a knob and expects one property of the music to change. Because every dMelodies factor can be
read back from a token sequence (:func:`dmelodies_tfds.factors_from_tokens`), this can be measured
directly on the decoder:

1. encode ``num_examples`` sampled melodies and decode their codes: the *base* melodies;
2. for each latent dimension, set it to ``num_steps`` values spanning the codes' own range on that
   dimension (its ``quantile`` to ``1 - quantile`` quantiles), leave the others, decode;
3. ``change_matrix[j, k]``: the fraction of dimension j's traversals in which factor k changed: both
   the base and the traversed melody determine it, with different labels. A melody that no longer
   determines a factor (wrong number of notes, not an arpeggio) counts as no control over it.

``controllability`` is the mean over factors of the gap between the two dimensions that change the
factor most often: 1 when every factor has its own dimension that always changes it and no other
dimension does, 0 when no dimension changes it or two do alike (the same top-two gap as MIG and SAP).
``decoded_validity`` is the fraction of traversed melodies whose nine factors are all determined.
"""
from __future__ import annotations

import gin
import numpy as np

import dmelodies_tfds as d
from benchmarks.representation import batched


@gin.configurable("controllability",
                  denylist=["ground_truth_data", "representation_function", "decode_function", "random_state"])
def compute_controllability(ground_truth_data, representation_function, decode_function, random_state,
                            num_examples: int = 1000, num_steps: int = 10, quantile: float = 0.05,
                            batch_size: int = 1024) -> dict:
    """Scores as described in the module docstring; ``decode_function`` maps codes to tokens (n, 16).

    Returns ``controllability``, ``decoded_validity``, ``control_<factor>`` (how often the dimension
    that changes the factor most changes it), ``dimension_<factor>`` (that dimension, -1 if none) and
    ``change_matrix`` (latent dimensions x 9, as nested lists).
    """
    if num_steps < 2 or not 0.0 <= quantile < 0.5:
        raise ValueError(f"need num_steps >= 2 and 0 <= quantile < 0.5, got {num_steps} and {quantile}")
    factors = ground_truth_data.sample_factors(num_examples, random_state)
    codes = np.asarray(representation_function(ground_truth_data.sample_observations_from_factors(
        factors, random_state)))
    num_latents = codes.shape[1]
    base = np.repeat(d.factors_from_tokens(batched(decode_function, codes, batch_size)), num_steps, axis=0)
    values = np.linspace(np.quantile(codes, quantile, axis=0), np.quantile(codes, 1 - quantile, axis=0),
                         num_steps)  # (num_steps, num_latents)

    change = np.zeros((num_latents, d.NUM_FACTORS))
    valid = 0
    for j in range(num_latents):
        traversed = np.repeat(codes, num_steps, axis=0)
        traversed[:, j] = np.tile(values[:, j], num_examples)
        labels = d.factors_from_tokens(batched(decode_function, traversed, batch_size))
        valid += int(np.all(labels >= 0, axis=1).sum())
        change[j] = np.mean((labels >= 0) & (base >= 0) & (labels != base), axis=0)

    top = np.sort(change, axis=0)[::-1]
    best = np.argmax(change, axis=0)
    scores = {
        "controllability": float(np.mean(top[0] - (top[1] if num_latents > 1 else 0.0))),
        "decoded_validity": valid / (num_latents * num_examples * num_steps),
    }
    for k, key in enumerate(d.FACTOR_KEYS):
        scores[f"control_{key}"] = float(top[0, k])
        scores[f"dimension_{key}"] = int(best[k]) if top[0, k] > 0 else -1
    scores["change_matrix"] = change.tolist()
    return scores
