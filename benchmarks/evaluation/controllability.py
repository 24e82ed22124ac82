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

The exact read-back decides tonic, octave and scale only when all 12 decoded notes are one key's
arpeggios, so a decoder that moves the register but misplaces one note reads as controlling nothing.
Every score therefore also comes ``robust_``: the same computation with the pitch factors read back by
:func:`dmelodies_tfds.pitch_factors_from_tokens` (the key whose 12 pitches account for most of the
decoded notes), rhythm and arpeggio directions as before; ``robust_pitch_decided`` is the fraction of
traversed melodies whose key it decides.

Latent holes (Pati & Lerch, "Is Disentanglement Enough? On Latent Representations for Controllable Music
Generation", ISMIR 2021, name the problem; their code leaves the measure empty): a traversal that starts
from a melody the decoder reproduces validly and lands on a melody that is not one of dMelodies' (some
factor undetermined) has fallen into a hole. ``latent_hole`` is the fraction of such traversals among
those whose base decode is valid. ``validity_by_distance`` says where the holes are: each traversed code's
distance to the nearest of the ``num_examples`` encoded codes (Euclidean, each dimension in units of the
codes' standard deviation on it), binned at ``distance_edges``, with the fraction of valid decodes in
each bin. A traversal stays within about 3.3 standard deviations of its base code, so the last bins
are often empty.
"""
from __future__ import annotations

import gin
import numpy as np

import dmelodies_tfds as d
from benchmarks.evaluation.representation import batched


@gin.configurable("controllability",
                  denylist=["ground_truth_data", "representation_function", "random_state", "decode_function"])
def compute_controllability(ground_truth_data, representation_function, random_state, *, decode_function,
                            num_examples: int = 1000, num_steps: int = 10, quantile: float = 0.05,
                            batch_size: int = 1024,
                            distance_edges: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0)) -> dict:
    """Scores as described in the module docstring; ``decode_function`` maps codes to tokens (n, 16).
    disentanglement_lib's metric signature, with the decoder as a keyword.

    Returns ``controllability``, ``decoded_validity``, ``control_<factor>`` (how often the dimension
    that changes the factor most changes it), ``dimension_<factor>`` (that dimension, -1 if none) and
    ``change_matrix`` (latent dimensions x 9, as nested lists); each of these but ``decoded_validity``
    again as ``robust_<name>`` with the robust pitch read-back, and ``robust_pitch_decided``;
    ``latent_hole``; ``distance_edges`` (each bin's lower edge, the last bin open-ended),
    ``traversals_by_distance`` and ``validity_by_distance`` (NaN for an empty bin).
    """
    if num_steps < 2 or not 0.0 <= quantile < 0.5:
        raise ValueError(f"need num_steps >= 2 and 0 <= quantile < 0.5, got {num_steps} and {quantile}")
    edges = np.asarray(distance_edges, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 1 or edges[0] != 0.0 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"distance_edges must rise strictly from 0.0, got {tuple(distance_edges)}")
    factors = ground_truth_data.sample_factors(num_examples, random_state)
    codes = np.asarray(representation_function(ground_truth_data.sample_observations_from_factors(
        factors, random_state)))
    num_latents = codes.shape[1]
    base = [np.repeat(labels, num_steps, axis=0) for labels in read_back(batched(decode_function, codes, batch_size))]
    base_valid = np.all(base[0] >= 0, axis=1)
    nearest = _NearestCode(codes)
    values = np.linspace(np.quantile(codes, quantile, axis=0), np.quantile(codes, 1 - quantile, axis=0),
                         num_steps)  # (num_steps, num_latents)

    change = np.zeros((2, num_latents, d.NUM_FACTORS))  # exact, robust
    valid = pitch_decided = holes = valid_bases = 0
    by_distance = np.zeros((2, len(edges)), np.int64)  # traversals, valid ones
    for j in range(num_latents):
        traversed = np.repeat(codes, num_steps, axis=0)
        traversed[:, j] = np.tile(values[:, j], num_examples)
        exact, robust = read_back(batched(decode_function, traversed, batch_size))
        decoded_valid = np.all(exact >= 0, axis=1)
        valid += int(decoded_valid.sum())
        holes += int((base_valid & ~decoded_valid).sum())
        valid_bases += int(base_valid.sum())
        bins = np.searchsorted(edges, nearest.distance(traversed), side="right") - 1
        by_distance[0] += np.bincount(bins, minlength=len(edges))
        by_distance[1] += np.bincount(bins, weights=decoded_valid, minlength=len(edges)).astype(np.int64)
        pitch_decided += int(np.all(robust[:, :3] >= 0, axis=1).sum())
        for k, (labels, before) in enumerate(zip((exact, robust), base)):
            change[k, j] = np.mean((labels >= 0) & (before >= 0) & (labels != before), axis=0)

    traversals = num_latents * num_examples * num_steps
    scores = {**_scores(change[0]), "decoded_validity": valid / traversals}
    scores.update({f"robust_{name}": value for name, value in _scores(change[1]).items()})
    scores["robust_pitch_decided"] = pitch_decided / traversals
    scores["latent_hole"] = holes / valid_bases if valid_bases else float("nan")
    scores["distance_edges"] = edges.tolist()
    scores["traversals_by_distance"] = by_distance[0].tolist()
    scores["validity_by_distance"] = [float(v / n) if n else float("nan") for n, v in by_distance.T]
    return scores


class _NearestCode:
    """Distance from codes to the nearest of a fixed set, each dimension in units of the set's standard
    deviation on it (a collapsed dimension, whose traversal range is as narrow, counts in its own units)."""

    def __init__(self, codes: np.ndarray, chunk: int = 4096):
        scale = codes.std(axis=0)
        self._scale = np.where(scale > 0, scale, 1.0)
        self._data = codes / self._scale
        self._squared = np.sum(self._data ** 2, axis=1)
        self._chunk = chunk

    def distance(self, queries: np.ndarray) -> np.ndarray:
        out = np.empty(len(queries))
        for start in range(0, len(queries), self._chunk):
            q = queries[start:start + self._chunk] / self._scale
            squared = np.sum(q ** 2, axis=1)[:, None] - 2 * q @ self._data.T + self._squared[None, :]
            out[start:start + len(q)] = np.sqrt(np.maximum(squared.min(axis=1), 0.0))
        return out


def read_back(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nine labels (n, 9) of decoded melodies read back exactly, and with the pitch factors read
    back robustly (:func:`dmelodies_tfds.pitch_factors_from_tokens`); -1 where a factor is undecided."""
    exact = d.factors_from_tokens(tokens)
    robust = exact.copy()
    robust[:, :3] = d.pitch_factors_from_tokens(tokens)[0]
    return exact, robust


def _scores(change: np.ndarray) -> dict:
    """``controllability``, ``control_<factor>``, ``dimension_<factor>`` and ``change_matrix`` of a change
    matrix (latent dimensions x factors)."""
    top = np.sort(change, axis=0)[::-1]
    best = np.argmax(change, axis=0)
    scores = {"controllability": float(np.mean(top[0] - (top[1] if len(change) > 1 else 0.0)))}
    for k, key in enumerate(d.FACTOR_KEYS):
        scores[f"control_{key}"] = float(top[0, k])
        scores[f"dimension_{key}"] = int(best[k]) if top[0, k] > 0 else -1
    scores["change_matrix"] = change.tolist()
    return scores
