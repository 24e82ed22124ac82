"""music21 at the edge: one melody's 16 tokens <-> a music21 ``Score``, and MIDI / MusicXML files.

The generator never needs music21 (protocol §8); this module only renders tokens for listening and
engraving, and parses scores back so that exported or hand-made melodies can be fed to the models.
A melody is two 4/4 bars of eight eighth-note slots (protocol §2): a token is a note starting in its slot,
``rest``, or ``__`` holding the previous note one more eighth (protocol §3).
"""
from __future__ import annotations

from fractions import Fraction

import music21
import numpy as np

from dmelodies_tfds import melodies as M
from dmelodies_tfds.atomic import atomic_output

SLOT_QUARTER_LENGTH = Fraction(1, 2)  # one slot is an eighth note
MELODY_QUARTER_LENGTH = M.SEQUENCE_LENGTH * SLOT_QUARTER_LENGTH  # two 4/4 bars


def _check_melody(tokens) -> np.ndarray:
    tokens = M._check_token_values(tokens)  # integers (no bool or float) inside the vocabulary
    if tokens.shape == (1, M.SEQUENCE_LENGTH):
        tokens = tokens[0]
    if tokens.shape != (M.SEQUENCE_LENGTH,):
        raise ValueError(f"a melody is {M.SEQUENCE_LENGTH} tokens, got an array of shape {tokens.shape}")
    return tokens


def to_music21(tokens, title: str | None = None) -> music21.stream.Score:
    """A one-part ``Score`` (4/4, two bars, eighth notes and rests) of one 16-token melody.

    ``__`` lengthens the previous note or rest by an eighth (at slot 0 it holds an opening rest, as the
    release's renderer did); notes held over the barline are tied by music21's notation pass.
    """
    names = M.tokens_to_names(_check_melody(tokens))
    part = music21.stream.Part()
    part.partName = title or "dMelodies"  # becomes the MIDI track name
    part.append(music21.meter.TimeSignature("4/4"))
    current = None
    for name in names:
        if name == M.CONTINUATION and current is not None:
            current.quarterLength += SLOT_QUARTER_LENGTH
            continue
        if name in (M.REST, M.CONTINUATION):
            current = music21.note.Rest(quarterLength=SLOT_QUARTER_LENGTH)
        else:
            current = music21.note.Note(name, quarterLength=SLOT_QUARTER_LENGTH)
        part.append(current)
    score = music21.stream.Score()
    score.metadata = music21.metadata.Metadata(title=title or "dMelodies melody")
    score.insert(0, part)
    return score.makeNotation()


def tokens_from_music21(score) -> np.ndarray:
    """The 16 int32 tokens of a monophonic two-bar 4/4 melody on the eighth-note grid.

    Tied notes are merged first, so a note held over the barline reads back as note + ``__``. Slots no
    note covers are ``rest``: MIDI files do not store trailing rests, so a shorter score is padded.
    ``ValueError`` names the first thing that does not fit the grid: a melody longer than two bars,
    another time signature, a note shorter than an eighth or starting off the grid, overlapping notes,
    chords, or a pitch outside the vocabulary.
    """
    if not isinstance(score, music21.stream.Stream):
        raise TypeError(f"expected a music21 stream (Score, Part, ...), got {type(score).__name__}")
    _check_parts(score)
    for signature in score.recurse().getElementsByClass(music21.meter.TimeSignature):
        if signature.ratioString != "4/4":
            raise ValueError(f"time signature {signature.ratioString}: a dMelodies melody is in 4/4")
    events = score.stripTies().flatten().notesAndRests
    tokens = np.full(M.SEQUENCE_LENGTH, M.REST_TOKEN, dtype=np.int32)
    covered = np.zeros(M.SEQUENCE_LENGTH, dtype=bool)
    for event in events:
        onset, length = Fraction(event.offset), Fraction(event.quarterLength)
        if onset + length > MELODY_QUARTER_LENGTH:
            raise ValueError(
                f"the melody ends at quarter note {float(onset + length):g}: a dMelodies melody is two "
                f"4/4 bars ({float(MELODY_QUARTER_LENGTH):g} quarter notes)"
            )
        if isinstance(event, music21.note.Rest):
            continue  # uncovered slots are rests already
        where = f"{_describe(event)} at quarter note {float(onset):g}"
        if isinstance(event, music21.chord.Chord):
            raise ValueError(f"{where}: a dMelodies melody is monophonic, chords do not fit")
        if not isinstance(event, music21.note.Note):
            raise ValueError(f"{where}: only pitched notes and rests fit a dMelodies melody")
        if length < SLOT_QUARTER_LENGTH:
            raise ValueError(f"{where} lasts {float(length):g} quarter notes, shorter than an eighth")
        first, last = onset / SLOT_QUARTER_LENGTH, (onset + length) / SLOT_QUARTER_LENGTH
        if first.denominator != 1 or last.denominator != 1:
            raise ValueError(f"{where} (length {float(length):g}) is off the eighth-note grid")
        first, last = int(first), int(last)
        if covered[first:last].any():
            raise ValueError(f"{where} overlaps another note: a dMelodies melody is monophonic")
        covered[first:last] = True
        tokens[first] = _note_token(event, where)
        tokens[first + 1:last] = M.CONTINUATION_TOKEN
    return tokens


def _check_parts(score) -> None:
    parts = list(score.getElementsByClass(music21.stream.Part)) if isinstance(score, music21.stream.Score) else []
    sounding = [p for p in parts if p.recurse().notes]
    if len(sounding) > 1:
        raise ValueError(f"the score has {len(sounding)} parts with notes: a dMelodies melody is one part")


def _describe(event) -> str:
    if isinstance(event, music21.chord.Chord):
        return "chord " + " ".join(p.nameWithOctave for p in event.pitches)
    if isinstance(event, music21.note.Note):
        return f"note {event.pitch.nameWithOctave}"
    return type(event).__name__


def _note_token(note: music21.note.Note, where: str) -> int:
    pitch = note.pitch
    if pitch.ps != int(pitch.ps):
        raise ValueError(f"{where} is a microtone; dMelodies pitches are semitones")
    name = M.note_name(int(pitch.ps))
    if name not in M.TOKEN_INDEX:
        raise ValueError(f"{where} (MIDI {int(pitch.ps)}) is not in the dMelodies vocabulary")
    return M.TOKEN_INDEX[name]


def midi_bytes(tokens, title: str | None = None) -> bytes:
    """One melody as the bytes of a standard MIDI file (what :func:`write_midi` writes; a server sends them)."""
    return music21.midi.translate.streamToMidiFile(to_music21(tokens, title)).writestr()


def write_midi(tokens, path, *, title: str | None = None, overwrite: bool = False) -> str:
    """Write one melody as a standard MIDI file at ``path``, atomically; refuses an existing path."""
    return _write_bytes(midi_bytes(tokens, title), path, overwrite)


def write_musicxml(tokens, path, *, title: str | None = None, overwrite: bool = False) -> str:
    """Write one melody as MusicXML at ``path``, atomically; refuses an existing path."""
    score = to_music21(tokens, title)
    data = music21.musicxml.m21ToXml.GeneralObjectExporter(score).parse()
    return _write_bytes(data, path, overwrite)


def _write_bytes(data: bytes, path, overwrite: bool) -> str:
    with atomic_output(path, overwrite) as file:
        file.write(data)
    return str(path)
