"""dMelodies: the music disentanglement dataset, generated exactly with numpy, served through TFDS.

``import dmelodies_tfds`` registers the ``dmelodies`` TFDS builder (when tensorflow_datasets is
installed), so ``tfds.load("dmelodies")`` works. The numpy core needs neither TensorFlow nor music21;
music21 is imported only by the rendering and export functions. "protocol §N" in this package's
docstrings is section N of docs/protocol.md, the project's specification.
"""
from dmelodies_tfds.factors import (
    FACTOR_KEYS,
    FACTOR_SIZES,
    FACTORS,
    NUM_EXAMPLES,
    NUM_FACTORS,
    RHYTHM_MASKS,
    Factor,
    describe_read_back,
    factor_label,
    factors_to_index,
    index_to_factors,
)
from dmelodies_tfds.melodies import (
    SEQUENCE_LENGTH,
    VOCABULARY,
    VOCABULARY_SIZE,
    factors_from_tokens,
    generate_tokens,
    names_to_tokens,
    pitch_factors_from_tokens,
    tokens_to_names,
)
from dmelodies_tfds.splits import SPLITS, split_indices

__version__ = "1.0.0"


def to_music21(tokens):
    """A music21 ``Score`` of one 16-token melody (see :mod:`dmelodies_tfds.music`)."""
    from dmelodies_tfds import music

    return music.to_music21(tokens)


def tokens_from_music21(score):
    """The 16 tokens of a two-bar music21 score on the eighth-note grid (see :mod:`dmelodies_tfds.music`)."""
    from dmelodies_tfds import music

    return music.tokens_from_music21(score)


try:  # Registers the `dmelodies` builder; the numpy core above works without TFDS.
    import tensorflow_datasets as _tfds  # noqa: F401
except ImportError:  # pragma: no cover - TFDS is a declared dependency
    pass
else:
    from dmelodies_tfds.dmelodies.dmelodies_dataset_builder import Builder  # noqa: F401
