"""Piano rolls of melodies (protocol §2-3) drawn with matplotlib's Agg backend: what is on the axes."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import dmelodies_tfds as d  # noqa: E402
from dmelodies_tfds import plotting  # noqa: E402

A4, C5 = d.names_to_tokens(["A4", "C5"]).tolist()  # MIDI 69, 72
REST, HOLD = 0, 1


@pytest.fixture
def ax():
    figure, ax = plt.subplots()
    yield ax
    plt.close(figure)


def bars(roll):
    return [(p.get_x(), p.get_width(), p.get_y() + p.get_height() / 2) for p in roll.patches]


def test_held_note_is_one_bar_across_its_slots(ax):
    tokens = [A4, HOLD, HOLD, HOLD] + [REST] * 12
    roll = plotting.plot_piano_roll(ax, tokens)
    assert roll.notes == (plotting.Note(0, 4, 69),)
    [(x, width, pitch)] = bars(roll)
    assert pitch == 69 and x == pytest.approx(plotting.GAP / 2) and width == pytest.approx(4 - plotting.GAP)


def test_repeated_note_is_two_bars_with_a_gap(ax):
    tokens = [A4, A4] + [REST] * 14
    roll = plotting.plot_piano_roll(ax, tokens)
    assert roll.notes == (plotting.Note(0, 1, 69), plotting.Note(1, 1, 69))
    (x0, w0, _), (x1, _, _) = bars(roll)
    assert x1 - (x0 + w0) == pytest.approx(plotting.GAP)  # a visible gap between the two onsets
    assert all(p.get_edgecolor() != p.get_facecolor() for p in roll.patches)  # and an edge


def test_continuation_holds_over_the_barline_and_after_a_rest_holds_silence():
    tokens = [HOLD, A4] + [HOLD] * 7 + [REST, HOLD, C5, REST, REST, C5, HOLD]
    assert plotting.note_events(tokens) == (plotting.Note(1, 8, 69), plotting.Note(11, 1, 72),
                                            plotting.Note(14, 2, 72))


def test_y_limits_fit_the_notes_with_a_margin_and_ticks_are_note_names(ax):
    tokens = d.generate_tokens([1_110_395])[0]  # A minor in octave 6: A6 (93) .. B7 (107)
    roll = plotting.plot_piano_roll(ax, tokens)
    assert roll.pitch_range == (92, 108)
    assert ax.get_ylim() == (91.5, 108.5)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels and all(label[0] in "CDEFGAB" and label[-1].isdigit() for label in labels)
    assert [plotting.note_label(p) for p in ax.get_yticks()] == labels
    assert "C7" in labels and "E\u266d7" in labels  # flats written as musicians do


def test_note_labels_spell_like_the_vocabulary():
    assert [plotting.note_label(m) for m in (60, 63, 66, 70, 109)] == ["C4", "E♭4", "F♯4", "B♭4", "C♯8"]


def test_bar_line_at_slot_8(ax):
    roll = plotting.plot_piano_roll(ax, [A4] * 16)
    assert list(roll.bar_line.get_xdata()) == [8, 8]
    assert ax.get_xlim() == (0, 16)


def test_reference_is_drawn_faintly_behind(ax):
    start, decoded = [A4] + [REST] * 15, [C5] + [REST] * 15
    roll = plotting.plot_piano_roll(ax, decoded, reference=start)
    assert roll.reference_notes == (plotting.Note(0, 1, 69),)
    [behind], [front] = roll.reference_patches, roll.patches
    assert behind.get_zorder() < front.get_zorder()
    assert roll.pitch_range == (68, 73)  # fitted to both melodies


def test_given_pitch_range_is_used_and_empty_melodies_get_a_default(ax):
    roll = plotting.plot_piano_roll(ax, [REST] * 16, pitch_range=(60, 80))
    assert roll.notes == () and roll.patches == [] and ax.get_ylim() == (59.5, 80.5)
    assert plotting.fit_pitch_range([REST] * 16) == (71, 85)


@pytest.mark.parametrize("bad", [[A4] * 15, [[A4] * 16] * 2, [99] * 16, [0.5] * 16])
def test_bad_melodies_are_refused(ax, bad):
    with pytest.raises(ValueError):
        plotting.plot_piano_roll(ax, bad)


def test_traversal_grid_starts_with_the_start_melody_and_shares_one_pitch_axis():
    start = d.generate_tokens([0])[0]  # C major in octave 4: C4 .. D5
    low = np.where(start >= 2, A4, start)  # every note A4
    rows = [[start, low], [start, start]]
    figure, rolls = plotting.plot_traversal(start, rows, row_labels=["z[0]", "z[1]"], step_labels=["-1σ", "+1σ"])
    try:
        assert rolls.shape == (2, 3)
        assert all(roll.reference_notes == () for roll in rolls[:, 0])
        assert all(roll.reference_notes == plotting.note_events(start) for roll in rolls[:, 1:].flat)
        assert {roll.pitch_range for roll in rolls.flat} == {(59, 75)}  # C4 (60) .. D5 (74), one semitone wider
        axes = np.array(figure.axes).reshape(2, 3)
        assert axes[0, 0].get_yticklabels()[0].get_text() == "C4"
        assert [t.get_text() for t in axes[0, 1].get_yticklabels()] == [""] * len(axes[0, 1].get_yticks())
    finally:
        plt.close(figure)


def test_plotting_module_imports_matplotlib_only_when_drawing():
    import subprocess
    import sys

    code = "import sys, dmelodies_tfds.plotting as p; p.note_events([2] * 16); print('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
