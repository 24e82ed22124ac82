"""Tokens <-> music21 scores, and MIDI / MusicXML files read back to the same tokens (protocol §3)."""
import music21
import numpy as np
import pytest

import dmelodies_tfds as d
from dmelodies_tfds import music

PROTOCOL_EXAMPLES = {  # protocol §3
    0: [2, 3, 4, 5, 6, 7, 0, 0, 4, 8, 9, 2, 3, 4, 0, 0],
    d.NUM_EXAMPLES - 1: [0, 0, 43, 31, 30, 49, 46, 42, 0, 0, 51, 47, 43, 43, 31, 30],
    884613: [26, 35, 0, 0, 31, 45, 40, 29, 31, 0, 44, 47, 31, 35, 0, 26],
}
SAMPLE = np.concatenate(
    [list(PROTOCOL_EXAMPLES), np.random.default_rng(2020).choice(d.NUM_EXAMPLES, 50, replace=False)]
)
HELD = {  # hand-made melodies with `__`, which the dataset itself never uses (protocol §3)
    "held over the barline": [5, 5, 5, 5, 5, 5, 5, 6, 1, 7, 7, 7, 7, 7, 7, 7],
    "whole melody one note": [2] + [1] * 15,
    "alternating": [2, 1] * 8,
    "all rests": [0] * 16,
}
WRITERS = {"mid": music.write_midi, "musicxml": music.write_musicxml}


def test_spec_examples_render_as_named():
    score = music.to_music21(PROTOCOL_EXAMPLES[884613])
    names = [n.nameWithOctave if n.isNote else "rest" for n in score.flatten().notesAndRests]
    assert names == ["G6", "B-6", "rest", "rest", "D7", "G7", "E-7", "C7",
                     "D7", "rest", "F#7", "A7", "D7", "B-6", "rest", "G6"]


def test_score_is_two_bars_of_4_4_eighths_with_a_title():
    score = music.to_music21(d.generate_tokens(0)[0], title="melody zero")
    part = score.parts[0]
    assert [m.number for m in part.getElementsByClass(music21.stream.Measure)] == [1, 2]
    assert [ts.ratioString for ts in part.recurse().getElementsByClass(music21.meter.TimeSignature)] == ["4/4"]
    assert {e.quarterLength for e in part.flatten().notesAndRests} == {0.5}
    assert score.metadata.title == "melody zero"
    assert score.highestTime == 8


def test_continuation_lengthens_the_previous_note_and_ties_over_the_barline():
    part = music.to_music21(HELD["held over the barline"]).parts[0]
    measures = list(part.getElementsByClass(music21.stream.Measure))
    last, first = measures[0].notes[-1], measures[1].notes[0]
    assert last.nameWithOctave == first.nameWithOctave == "A4"
    assert last.tie.type == "start" and first.tie.type == "stop"


def test_leading_continuation_holds_a_rest_and_reads_back_as_rests():
    tokens = [1, 1, 2] + [0] * 13
    assert music.tokens_from_music21(music.to_music21(tokens)).tolist() == [0, 0, 2] + [0] * 13


@pytest.mark.parametrize("tokens", list(HELD.values()), ids=list(HELD))
def test_held_notes_round_trip_through_the_score(tokens):
    assert music.tokens_from_music21(music.to_music21(tokens)).tolist() == tokens


def test_public_api_delegates_to_this_module():
    tokens = d.generate_tokens(884613)[0]
    score = d.to_music21(tokens)
    assert isinstance(score, music21.stream.Score)
    back = d.tokens_from_music21(score)
    assert back.dtype == np.int32 and back.shape == (16,) and back.tolist() == tokens.tolist()


@pytest.mark.parametrize("extension", list(WRITERS))
def test_files_parse_back_to_the_same_tokens(tmp_path, extension):
    melodies = list(d.generate_tokens(SAMPLE)) + [np.array(t) for t in HELD.values()]
    for number, tokens in enumerate(melodies):
        path = tmp_path / f"{number}.{extension}"
        WRITERS[extension](tokens, path, title=f"melody {number}")
        back = music.tokens_from_music21(music21.converter.parse(path))
        assert back.tolist() == tokens.tolist(), (number, extension)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.{extension}" for n in range(len(melodies)))


def test_spec_examples_keep_their_tokens_through_files(tmp_path):
    for index, expected in PROTOCOL_EXAMPLES.items():
        for extension, write in WRITERS.items():
            write(d.generate_tokens(index)[0], tmp_path / f"{index}.{extension}")
            assert music.tokens_from_music21(music21.converter.parse(tmp_path / f"{index}.{extension}")).tolist() == expected


def test_humanised_midi_is_quantised_back_onto_the_grid(tmp_path):
    tokens = d.generate_tokens(884613)[0]
    score = music.to_music21(tokens)
    for note in score.recurse().notes:  # early note-offs and a little onset jitter, as a player would
        note.quarterLength = 0.45
    path = tmp_path / "played.mid"
    path.write_bytes(music21.midi.translate.streamToMidiFile(score).writestr())
    assert music.tokens_from_music21(music21.converter.parse(path)).tolist() == tokens.tolist()


def test_writers_refuse_an_existing_path_unless_overwrite(tmp_path):
    path = tmp_path / "m.mid"
    music.write_midi(d.generate_tokens(0)[0], path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        music.write_midi(d.generate_tokens(1)[0], path)
    assert path.read_bytes() == before
    music.write_midi(d.generate_tokens(1)[0], path, overwrite=True)
    assert music.tokens_from_music21(music21.converter.parse(path)).tolist() == d.generate_tokens(1)[0].tolist()
    assert [p.name for p in tmp_path.iterdir()] == ["m.mid"]  # no temporary files left behind


def test_writers_refuse_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        music.write_musicxml(d.generate_tokens(0)[0], tmp_path / "no" / "m.musicxml")


@pytest.mark.parametrize(
    "tokens, message",
    [
        ([0] * 15, r"16 tokens, got an array of shape \(15,\)"),
        ([[0] * 16] * 2, r"shape \(2, 16\)"),
        ([52] + [0] * 15, "token out of range"),
        ([-1] + [0] * 15, "token out of range"),
        ([0.0] * 16, "must be integers"),
    ],
)
def test_to_music21_rejects_bad_tokens(tokens, message):
    with pytest.raises(ValueError, match=message):
        music.to_music21(tokens)


def _part(*events, time_signature="4/4"):
    part = music21.stream.Part()
    if time_signature:
        part.append(music21.meter.TimeSignature(time_signature))
    for event in events:
        part.append(event)
    return part


def _note(name="C4", length=0.5):
    return music21.note.Note(name, quarterLength=length)


def _two_parts():
    score = music21.stream.Score()
    score.insert(0, _part(_note("C4")))
    score.insert(0, _part(_note("E4")))
    return score


def _overlapping():
    part = music21.stream.Part()
    part.insert(0, _note("C4", 1))
    part.insert(0.5, _note("E4"))
    return part


BAD_SCORES = {
    "chord": (lambda: _part(music21.chord.Chord(["C4", "E4"], quarterLength=0.5)), "chord C4 E4 .* monophonic"),
    "two parts": (_two_parts, "2 parts with notes"),
    "overlap": (_overlapping, "note E4 at quarter note 0.5 overlaps"),
    "3/4": (lambda: _part(_note(), time_signature="3/4"), "time signature 3/4"),
    "sixteenth": (lambda: _part(_note(length=0.25)), "lasts 0.25 quarter notes, shorter than an eighth"),
    "grace note": (lambda: _part(_note().getGrace(), _note("D4")), "lasts 0 quarter notes"),
    "off-grid onset": (lambda: _part(music21.note.Rest(quarterLength=0.25), _note()), "at quarter note 0.25 .* off the eighth-note grid"),
    "dotted eighth": (lambda: _part(_note(length=0.75)), "off the eighth-note grid"),
    "too long": (lambda: _part(*[_note(length=1) for _ in range(9)]), "ends at quarter note 9: .* two 4/4 bars"),
    "rests past bar 2": (lambda: _part(_note(length=4), music21.note.Rest(quarterLength=8)), "ends at quarter note 12"),
    "low pitch": (lambda: _part(_note("C2")), r"note C2 .*MIDI 36\) is not in the dMelodies vocabulary"),
    "pitch between vocabulary notes": (lambda: _part(_note("D8")), r"MIDI 110\) is not in the dMelodies vocabulary"),
    "microtone": (lambda: _part(_note("C~4")), "microtone"),
    "unpitched": (lambda: _part(music21.note.Unpitched(quarterLength=0.5)), "only pitched notes and rests"),
}


@pytest.mark.parametrize("name", list(BAD_SCORES))
def test_tokens_from_music21_names_what_does_not_fit_the_grid(name):
    make, message = BAD_SCORES[name]
    with pytest.raises(ValueError, match=message):
        music.tokens_from_music21(make())


def test_tokens_from_music21_wants_a_stream():
    with pytest.raises(TypeError, match="expected a music21 stream"):
        music.tokens_from_music21([2] * 16)


def test_short_scores_are_padded_with_rests():
    assert music.tokens_from_music21(_part(_note("C4", 1))).tolist() == [2, 1] + [0] * 14
