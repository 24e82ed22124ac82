"""Labels -> pitches -> tokens, vectorised with numpy, and back (protocol §2-3).

The generator never touches music21: a melody is 12 arpeggiated scale pitches dropped into the
onset slots of two rhythm masks, so the whole dataset is a few table look-ups. The inverse,
:func:`factors_from_tokens`, reads the labels back out of (possibly model-generated) token sequences.
"""
from __future__ import annotations

import numpy as np

from dmelodies_tfds import factors as F

SEQUENCE_LENGTH = 16
SLOTS_PER_BAR = 8
NOTES_PER_MELODY = 12

REST = "rest"
CONTINUATION = "__"
# protocol §3: entries 2-51 in order of first appearance over the dataset; `rest` = 0 and `__` = 1 fixed here.
VOCABULARY: tuple[str, ...] = (
    "rest", "__", "C4", "E4", "G4", "F4", "A4", "C5", "B4", "D5",
    "E-4", "G#4", "F#4", "B-4", "E5", "G5", "F5", "A5", "C6", "B5",
    "D6", "E-5", "G#5", "F#5", "B-5", "E6", "G6", "F6", "A6", "C7",
    "B6", "D7", "E-6", "G#6", "F#6", "B-6", "C#4", "C#5", "C#6", "C#7",
    "E-7", "D4", "E7", "F7", "F#7", "G7", "G#7", "A7", "B-7", "B7",
    "C8", "C#8",
)
VOCABULARY_SIZE = len(VOCABULARY)
TOKEN_INDEX: dict[str, int] = {name: i for i, name in enumerate(VOCABULARY)}
REST_TOKEN = TOKEN_INDEX[REST]
CONTINUATION_TOKEN = TOKEN_INDEX[CONTINUATION]

_PITCH_CLASS_NAMES = ("C", "C#", "D", "E-", "E", "F", "F#", "G", "G#", "A", "B-", "B")

# Semitone offsets of the nine scale degrees used, per scale label (protocol §2).
SCALE_OFFSETS = np.array(
    [
        [0, 2, 4, 5, 7, 9, 11, 12, 14],  # major
        [0, 2, 3, 5, 7, 8, 11, 12, 14],  # harmonic minor
        [0, 2, 3, 5, 6, 9, 10, 12, 14],  # blues
    ],
    dtype=np.int64,
)
# I - IV - V - I, as positions in the nine-degree list, each played upwards.
CHORD_DEGREES = np.array([[0, 2, 4], [3, 5, 7], [4, 6, 8], [0, 2, 4]], dtype=np.int64)


def note_name(midi: int) -> str:
    """music21's spelling of a bare MIDI number, as used by the release's tokens (e.g. 63 -> 'E-4')."""
    return f"{_PITCH_CLASS_NAMES[midi % 12]}{midi // 12 - 1}"


def midi_of(name: str) -> int:
    """The MIDI number of a note token name (inverse of :func:`note_name`)."""
    pitch_class, octave = name[:-1], name[-1]
    if pitch_class not in _PITCH_CLASS_NAMES or not octave.isdigit():
        raise ValueError(f"unknown note token {name!r}")
    return 12 * (int(octave) + 1) + _PITCH_CLASS_NAMES.index(pitch_class)


_MIDI_TO_TOKEN = np.full(128, -1, dtype=np.int32)
for _token, _name in enumerate(VOCABULARY[2:], start=2):
    _MIDI_TO_TOKEN[midi_of(_name)] = _token
_TOKEN_TO_MIDI = np.array([-1, -1] + [midi_of(n) for n in VOCABULARY[2:]], dtype=np.int64)


def melody_pitches(tonic, octave, scale, arps) -> np.ndarray:
    """MIDI pitches (n, 12) of the arpeggios for the given labels; ``arps`` is (n, 4), 1 = down."""
    tonic, octave, scale = (np.asarray(a, dtype=np.int64) for a in (tonic, octave, scale))
    arps = np.asarray(arps, dtype=np.int64).reshape(-1, 4)
    root = 12 * (octave + 4 + 1) + tonic  # octave label 0 is octave 4 (protocol §2)
    # Chord k reversed when arp_chordk is down: (n, 4, 3) scale-degree positions.
    degrees = np.where(arps[:, :, None] == 1, CHORD_DEGREES[None, :, ::-1], CHORD_DEGREES[None])
    offsets = np.take_along_axis(SCALE_OFFSETS[scale], degrees.reshape(len(arps), 12), axis=1)
    return root[:, None] + offsets


def _pitch_token_table() -> np.ndarray:
    """Tokens (12*3*3*16, 13) of every (tonic, octave, scale, arps) combination, plus a trailing rest."""
    grid = np.stack(np.unravel_index(np.arange(12 * 3 * 3 * 16), (12, 3, 3, 2, 2, 2, 2)), axis=1)
    pitches = melody_pitches(grid[:, 0], grid[:, 1], grid[:, 2], grid[:, 3:])
    tokens = _MIDI_TO_TOKEN[pitches]
    assert np.all(tokens >= 2), "vocabulary misses a pitch"
    return np.concatenate([tokens, np.full((len(tokens), 1), REST_TOKEN, np.int32)], axis=1)


def _slot_table() -> np.ndarray:
    """For each (rhythm_bar1, rhythm_bar2) pair (784, 16): the note (0-11) each slot plays, 12 = rest."""
    masks = F.RHYTHM_MASKS
    pair = np.concatenate(
        [np.repeat(masks, len(masks), axis=0), np.tile(masks, (len(masks), 1))], axis=1
    )
    note = np.cumsum(pair, axis=1) - 1
    return np.where(pair, note, NOTES_PER_MELODY).astype(np.intp)


_PITCH_TOKENS = _pitch_token_table()
_SLOTS = _slot_table()
_N_ARPS = 16
_N_RHYTHMS = len(_SLOTS)


def generate_tokens(indices=None) -> np.ndarray:
    """Token sequences (n, 16) int32 of examples ``indices`` (all N, in index order, when None).

    Index digits split into (tonic, octave, scale) | (rhythm_bar1, rhythm_bar2) | (four arps), so each
    melody is one row of a 1,728-row pitch table gathered through one row of a 784-row slot table.
    """
    if indices is None:  # all N: one gather per rhythm pair fills a (108, 784, 16, 16) block
        table = _PITCH_TOKENS.reshape(-1, _N_ARPS, NOTES_PER_MELODY + 1)
        out = np.empty((len(table), _N_RHYTHMS, _N_ARPS, SEQUENCE_LENGTH), dtype=np.int32)
        for rhythm, slots in enumerate(_SLOTS):
            out[:, rhythm] = table[:, :, slots]
        return out.reshape(F.NUM_EXAMPLES, SEQUENCE_LENGTH)
    indices = np.atleast_1d(F.check_indices(indices)).ravel()
    key, arps = np.divmod(indices, _N_ARPS)
    pitch_group, rhythm = np.divmod(key, _N_RHYTHMS)
    pitch_rows = _PITCH_TOKENS[pitch_group * _N_ARPS + arps]
    return np.take_along_axis(pitch_rows, _SLOTS[rhythm], axis=1)


def tokens_to_names(tokens) -> np.ndarray:
    """Token names for an int array of tokens (any shape); ``ValueError`` for unknown tokens."""
    tokens = _check_token_values(tokens)
    return np.asarray(VOCABULARY, dtype=object)[tokens]


def names_to_tokens(names) -> np.ndarray:
    """Int32 tokens for token names (any shape); ``ValueError`` naming the first unknown name."""
    names = np.asarray(names, dtype=object)
    out = np.empty(names.shape, dtype=np.int32)
    for position, name in np.ndenumerate(names):
        try:
            out[position] = TOKEN_INDEX[name]
        except KeyError:
            raise ValueError(f"unknown token name {name!r}; the vocabulary is {', '.join(VOCABULARY)}") from None
    return out


def _check_token_values(tokens) -> np.ndarray:
    """``tokens`` (any shape) as int64, or ``ValueError``: not integers (bool, float: protocol §3 tokens are
    int32 vocabulary indices), or outside the vocabulary (the value given is shown, never a wrapped one)."""
    tokens = F.as_int_array(tokens, "tokens")
    bad = (tokens < 0) | (tokens >= VOCABULARY_SIZE)
    if np.any(bad):
        raise ValueError(
            f"token out of range: {int(tokens[bad].flat[0])} is not in 0..{VOCABULARY_SIZE - 1} "
            f"(the vocabulary has {VOCABULARY_SIZE} entries)"
        )
    return tokens.astype(np.int64)


def _check_tokens(tokens) -> np.ndarray:
    tokens = _check_token_values(tokens)
    if tokens.ndim == 1:
        tokens = tokens[None]
    if tokens.ndim != 2 or tokens.shape[1] != SEQUENCE_LENGTH:
        raise ValueError(f"token sequences must have shape (n, {SEQUENCE_LENGTH}), got {tokens.shape}")
    return tokens


_MASK_TO_RHYTHM = np.full(256, -1, dtype=np.int64)
_MASK_TO_RHYTHM[F.RHYTHM_MASKS.astype(np.int64) @ (1 << np.arange(8))] = np.arange(len(F.RHYTHM_MASKS))


def factors_from_tokens(tokens) -> np.ndarray:
    """Recover the nine labels (n, 9) from token sequences, with -1 where a sequence does not decide.

    Meant for scoring generated melodies, so every rule reads only what is audible:
    - ``rhythm_barB``: bar B holds 6 notes and 2 rests (no ``__``); the label is its onset mask.
    - ``arp_chordK``: the melody holds 12 notes in all; chord K (notes 3K-3 … 3K-1) rising is up,
      falling is down.
    - ``tonic``, ``octave``, ``scale``: the 12 notes are exactly the arpeggios of one
      (tonic, octave, scale) given the arp directions; the root is the lowest note of chord 1.
    """
    tokens = _check_tokens(tokens)
    n = len(tokens)
    labels = np.full((n, F.NUM_FACTORS), -1, dtype=np.int64)

    is_note = tokens >= 2
    bars = tokens.reshape(n, 2, SLOTS_PER_BAR)
    bar_notes = is_note.reshape(n, 2, SLOTS_PER_BAR)
    valid_bar = (bar_notes.sum(axis=2) == 6) & (bars == REST_TOKEN).sum(axis=2).__eq__(2)
    bar_codes = (bar_notes.astype(np.int64) * (1 << np.arange(SLOTS_PER_BAR))).sum(axis=2)
    labels[:, 3:5] = np.where(valid_bar, _MASK_TO_RHYTHM[bar_codes], -1)

    twelve = is_note.sum(axis=1) == NOTES_PER_MELODY
    rows = np.flatnonzero(twelve)
    if len(rows) == 0:
        return labels
    # Stable argsort of "not a note" lists each row's note slots first, in order.
    order = np.argsort(~is_note[rows], axis=1, kind="stable")[:, :NOTES_PER_MELODY]
    pitches = _TOKEN_TO_MIDI[np.take_along_axis(tokens[rows], order, axis=1)].reshape(-1, 4, 3)
    step = np.diff(pitches, axis=2)
    up, down = np.all(step > 0, axis=2), np.all(step < 0, axis=2)
    arps = np.where(up, 0, np.where(down, 1, -1))
    labels[rows, 5:9] = arps

    decided = np.all(arps >= 0, axis=1)
    root = pitches[:, 0, :].min(axis=1)
    tonic, octave = root % 12, root // 12 - 5
    decided &= (octave >= 0) & (octave < 3)
    flat = pitches.reshape(-1, NOTES_PER_MELODY)
    matches = np.stack(
        [
            np.all(melody_pitches(tonic, np.clip(octave, 0, 2), np.full_like(tonic, s), np.clip(arps, 0, 1)) == flat, axis=1)
            for s in range(3)
        ],
        axis=1,
    )
    decided &= matches.sum(axis=1) == 1
    hit = rows[decided]
    labels[hit, 0] = tonic[decided]
    labels[hit, 1] = octave[decided]
    labels[hit, 2] = np.argmax(matches[decided], axis=1)
    return labels


# The 108 (tonic, octave, scale) keys and the multiset of their 12 pitches, as counts per vocabulary note
# (at most 3 of one pitch). The arp directions only reorder a chord, so they do not change the multiset.
_KEYS = np.stack(np.unravel_index(np.arange(12 * 3 * 3), (12, 3, 3)), axis=1)
_NOTE_COUNTS = np.zeros((len(_KEYS), VOCABULARY_SIZE - 2), dtype=np.int64)
for _row, _pitches in enumerate(_MIDI_TO_TOKEN[melody_pitches(_KEYS[:, 0], _KEYS[:, 1], _KEYS[:, 2],
                                                              np.zeros((len(_KEYS), 4)))]):
    np.add.at(_NOTE_COUNTS[_row], _pitches - 2, 1)
_MAX_REPEATS = int(_NOTE_COUNTS.max())


def pitch_factors_from_tokens(tokens) -> tuple[np.ndarray, np.ndarray]:
    """Tonic, octave and scale (n, 3) read back from melodies that may hold wrong, missing or extra notes,
    each with a confidence (n, 3) in [0, 1]; the label is -1 where the confidence is 0.

    :func:`factors_from_tokens` decides these three only when all 12 notes are exactly one key's
    arpeggios, so one wrong note in a generated melody hides a key that a listener still hears. Here
    every (tonic, octave, scale) key is scored by how many of the melody's notes its 12 pitches account
    for (multiset intersection, ignoring order, rhythm and arp directions), divided by the larger of 12
    and the number of notes; the best key gives the labels. A factor's confidence is that score minus
    the best score of any key with another value of the factor: 0 for a tie, 1 for a perfect melody
    whose runner-ups share nothing with it. Two keys share at most 9 of their 12 pitches, so one wrong
    note always reads back right; with 2-3 wrong notes a nearby key can win, with a small confidence.
    """
    tokens = _check_tokens(tokens)
    notes = np.zeros((len(tokens), VOCABULARY_SIZE), dtype=np.int64)
    np.add.at(notes, (np.arange(len(tokens))[:, None], tokens), 1)
    notes = notes[:, 2:]  # note tokens only: rests and continuations carry no pitch
    # sum over pitches of min(melody count, key count) = sum over k of [melody >= k][key >= k]
    shared = sum((notes >= k).astype(np.int64) @ (_NOTE_COUNTS >= k).T.astype(np.int64)
                 for k in range(1, _MAX_REPEATS + 1))  # (n, 108)
    score = shared / np.maximum(notes.sum(axis=1, keepdims=True), NOTES_PER_MELODY)
    best = np.argmax(score, axis=1)
    best_score = score[np.arange(len(tokens)), best]
    labels, confidence = _KEYS[best].copy(), np.zeros((len(tokens), 3))
    for factor in range(3):
        other = _KEYS[None, :, factor] != labels[:, factor:factor + 1]
        confidence[:, factor] = best_score - np.where(other, score, 0.0).max(axis=1)
    labels[confidence <= 0] = -1
    return labels, np.clip(confidence, 0.0, 1.0)
