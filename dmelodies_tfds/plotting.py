"""Piano rolls of 16-token melodies with matplotlib, for latent traversals (protocol §2-3).

A melody is two 4/4 bars of eight eighth-note slots (protocol §2). A token is a note starting in its slot,
``rest``, or ``__`` holding whatever came before one more eighth (protocol §3), so a piano roll draws each
note as one bar from its onset across its held slots, with a gap before the next onset: a held note
and a repeated note look different. ``__`` after a rest (or at slot 0) holds the silence.

Only the drawing functions import matplotlib, when called, so the numpy core stays light.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from dmelodies_tfds import melodies as M

NOTE_COLOR = "tab:blue"
START_COLOR = "0.25"  # the start melody, drawn on its own
REFERENCE_COLOR = "0.82"  # the start melody behind a decoded one
GAP = 0.12  # slots left blank before each onset, so that repeated notes read as two notes
HEIGHT = 0.8  # semitones


@dataclasses.dataclass(frozen=True)
class Note:
    """One sounding note: its onset slot, its length in slots and its MIDI pitch."""

    onset: int
    length: int
    midi: int

    @property
    def name(self) -> str:
        return note_label(self.midi)


@dataclasses.dataclass
class PianoRoll:
    """What :func:`plot_piano_roll` drew on its axes."""

    notes: tuple[Note, ...]
    patches: list  # one Rectangle per note, in onset order
    reference_notes: tuple[Note, ...]
    reference_patches: list
    bar_line: object  # the Line2D between the bars, at slot 8
    pitch_range: tuple[int, int]  # lowest and highest MIDI pitch the y axis shows


def _melody(tokens) -> np.ndarray:
    tokens = M._check_token_values(tokens)
    if tokens.shape == (1, M.SEQUENCE_LENGTH):
        tokens = tokens[0]
    if tokens.shape != (M.SEQUENCE_LENGTH,):
        raise ValueError(f"a melody is {M.SEQUENCE_LENGTH} tokens, got an array of shape {tokens.shape}")
    return tokens


def note_events(tokens) -> tuple[Note, ...]:
    """The notes of one melody in onset order: each note token starts one, ``__`` lengthens it."""
    notes: list[Note] = []
    sounding = False
    for slot, name in enumerate(M.tokens_to_names(_melody(tokens))):
        if name == M.CONTINUATION:
            if sounding:
                notes[-1] = dataclasses.replace(notes[-1], length=notes[-1].length + 1)
        elif name == M.REST:
            sounding = False
        else:
            notes.append(Note(slot, 1, M.midi_of(name)))
            sounding = True
    return tuple(notes)


def note_label(midi: int) -> str:
    """A pitch as a musician reads it, with the release's spelling (protocol §3): 63 -> 'E♭4', 66 -> 'F♯4'."""
    return M.note_name(int(midi)).replace("-", "\u266d").replace("#", "\u266f")


def fit_pitch_range(melodies, margin: int = 1) -> tuple[int, int]:
    """The lowest and highest MIDI pitch to show for the notes of ``melodies``, ``margin`` semitones wider.

    ``melodies`` is one melody (16 tokens) or several (n, 16); with no notes at all the range is C5-C6.
    """
    melodies = M._check_token_values(melodies).reshape(-1, M.SEQUENCE_LENGTH)
    pitches = [note.midi for melody in melodies for note in note_events(melody)]
    if not pitches:
        return 72 - margin, 84 + margin
    return min(pitches) - margin, max(pitches) + margin


def pitch_ticks(pitch_range: tuple[int, int], most: int = 7) -> list[int]:
    """Pitches to label on an axis showing ``pitch_range``: every C, C and F♯, C E♭ F♯ A, … or every note,
    the densest of these that gives at most ``most`` labels."""
    low, high = pitch_range
    for step in (1, 2, 3, 4, 6, 12):
        ticks = [p for p in range(low, high + 1) if p % step == 0]
        if len(ticks) <= most:
            return ticks
    return [p for p in range(low, high + 1) if p % 12 == 0] or [low]


def _bars(ax, notes, *, color, edge, zorder, alpha=1.0) -> list:
    from matplotlib.patches import Rectangle

    patches = []
    for note in notes:
        patch = Rectangle((note.onset + GAP / 2, note.midi - HEIGHT / 2), note.length - GAP, HEIGHT,
                          facecolor=color, edgecolor=edge, linewidth=0.6, alpha=alpha, zorder=zorder)
        ax.add_patch(patch)
        patches.append(patch)
    return patches


def plot_piano_roll(ax, tokens, *, pitch_range: tuple[int, int] | None = None, reference=None,
                    color: str = NOTE_COLOR, label_pitches: bool = True, title: str | None = None) -> PianoRoll:
    """Draw one melody on ``ax`` as a piano roll and return what was drawn.

    x is the eighth-note slot (0-16), with a bar line at slot 8 and light lines on the beats; y is pitch,
    labelled with note names, over ``pitch_range`` (default: :func:`fit_pitch_range` of the melody and
    the reference; pass one range to several axes to compare them). ``reference``, another melody (the
    start of a traversal), is drawn faintly behind, so that what changed stands out.
    """
    from matplotlib.colors import to_rgb

    notes = note_events(tokens)
    reference_notes = () if reference is None else note_events(reference)
    if pitch_range is None:
        shown = [tokens] if reference is None else [tokens, reference]
        pitch_range = fit_pitch_range(np.stack([_melody(m) for m in shown]))
    low, high = int(pitch_range[0]), int(pitch_range[1])

    reference_patches = _bars(ax, reference_notes, color=REFERENCE_COLOR, edge="none", zorder=1)
    edge = tuple(0.55 * c for c in to_rgb(color))
    patches = _bars(ax, notes, color=color, edge=edge, zorder=2)
    bar_line = ax.axvline(M.SLOTS_PER_BAR, color="0.3", linewidth=1.0, zorder=1.5)
    for beat in range(2, M.SEQUENCE_LENGTH, 2):
        if beat != M.SLOTS_PER_BAR:
            ax.axvline(beat, color="0.92", linewidth=0.6, zorder=0)

    ax.set_xlim(0, M.SEQUENCE_LENGTH)
    ax.set_xticks(range(0, M.SEQUENCE_LENGTH + 1, 4))
    ax.set_ylim(low - 0.5, high + 0.5)
    ticks = pitch_ticks((low, high))
    ax.set_yticks(ticks, [note_label(p) for p in ticks] if label_pitches else [])
    ax.tick_params(labelsize=7, length=2)
    for pitch in ticks:
        ax.axhline(pitch, color="0.92", linewidth=0.6, zorder=0)
    if title is not None:
        ax.set_title(title, fontsize=8)
    return PianoRoll(notes, patches, reference_notes, reference_patches, bar_line, (low, high))


def plot_traversal(start, rows: Sequence, *, row_labels: Sequence[str], step_labels: Sequence[str],
                   start_labels: Sequence[str] | None = None, margin: int = 1):
    """A grid of piano rolls: per row, the start melody, then the melodies decoded along one latent
    dimension (``rows[r][c]``, 16 tokens each) with the start drawn faintly behind them.

    All panels share one pitch axis fitted to every note shown. Returns the pyplot figure and the
    :class:`PianoRoll` of each panel, (rows, 1 + steps), column 0 being the start melody.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    start = _melody(start)
    grid = [[_melody(tokens) for tokens in row] for row in rows]
    if not grid or len({len(row) for row in grid}) != 1:
        raise ValueError("rows must be a non-empty list of equally long lists of melodies")
    if len(row_labels) != len(grid) or len(step_labels) != len(grid[0]):
        raise ValueError(f"{len(grid)} rows of {len(grid[0])} steps need as many row_labels and step_labels")
    pitch_range = fit_pitch_range(np.stack([start, *[m for row in grid for m in row]]), margin)
    columns = 1 + len(grid[0])
    figure, axes = plt.subplots(len(grid), columns, figsize=(2.15 * columns, 1.9 * len(grid) + 0.6),
                                squeeze=False)
    rolls = np.empty((len(grid), columns), dtype=object)
    for r, row in enumerate(grid):
        start_title = start_labels[r] if start_labels is not None else "start"
        rolls[r, 0] = plot_piano_roll(axes[r, 0], start, pitch_range=pitch_range, color=START_COLOR,
                                      title=start_title)
        axes[r, 0].set_ylabel(row_labels[r], fontsize=9)
        for c, tokens in enumerate(row, start=1):
            rolls[r, c] = plot_piano_roll(axes[r, c], tokens, pitch_range=pitch_range, reference=start,
                                          label_pitches=False, title=f"{row_labels[r]} = {step_labels[c - 1]}")
        for ax in axes[r]:
            ax.tick_params(labelbottom=r == len(grid) - 1)
    handles = [Patch(facecolor=START_COLOR, label="start melody"),
               Patch(facecolor=REFERENCE_COLOR, label="start melody, behind the decoded one"),
               Patch(facecolor=NOTE_COLOR, label="decoded melody")]
    figure.legend(handles=handles, loc="upper center", ncol=3, fontsize=8, frameon=False)
    figure.supxlabel("eighth-note slot (bar line at 8)", fontsize=9)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.35 / figure.get_figheight()))
    return figure, rolls
