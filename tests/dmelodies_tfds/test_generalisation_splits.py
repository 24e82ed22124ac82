"""The composition / interpolation / extrapolation splits: what they hold out, their sizes, their builds."""
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

import dmelodies_tfds as d
from dmelodies_tfds import splits
from dmelodies_tfds.dmelodies import dmelodies_dataset_builder as builder_lib

TONIC, OCTAVE, SCALE, RHYTHM1, RHYTHM2 = (d.FACTOR_KEYS.index(k) for k in ("tonic", "octave", "scale", "rhythm_bar1", "rhythm_bar2"))


def _labels(config, seed=0):
    return {split: d.index_to_factors(splits.split_indices(split, seed, config)) for split in d.SPLITS}


def _pairs(labels, a, b):
    return set(map(tuple, labels[:, [a, b]].tolist()))


def test_the_agreed_names():
    assert splits.GENERALISATION_CONFIGS == ("composition", "interpolation", "extrapolation")
    names = {config.name for config in builder_lib.Builder.BUILDER_CONFIGS}
    assert set(splits.GENERALISATION_CONFIGS) <= names and {"tiny_composition", "composition_split2"} <= names


@pytest.mark.parametrize("config, held", [("composition", 266_112), ("interpolation", 451_584), ("extrapolation", 451_584)])
def test_sizes_add_up_and_the_splits_are_disjoint(config, held):
    parts = {split: splits.split_indices(split, config=config) for split in d.SPLITS}
    seen = d.NUM_EXAMPLES - held
    assert len(parts["train"]) == seen * 7 // 9 and len(parts["train"]) + len(parts["validation"]) == seen
    assert len(parts["test"]) == splits.TEST_SIZE == 135_476 < held
    every = np.concatenate(list(parts.values()))
    assert len(np.unique(every)) == len(every) and every.min() >= 0 and every.max() < d.NUM_EXAMPLES
    labels = {split: d.index_to_factors(indices) for split, indices in parts.items()}
    assert not splits.held_out(labels["train"], config).any() and not splits.held_out(labels["validation"], config).any()
    assert splits.held_out(labels["test"], config).all()
    # The held-out melodies outside the test sample are in no split.
    everything = splits.held_out(d.index_to_factors(np.arange(d.NUM_EXAMPLES)), config)
    assert everything.sum() == held


def test_composition_hears_every_value_but_never_the_held_out_combinations():
    labels = _labels("composition")
    train = labels["train"]
    for column, factor in enumerate(d.FACTORS):
        assert set(train[:, column]) == set(range(factor.size)), factor.key
    unheard = {(d.FACTORS[TONIC].values.index(t), d.FACTORS[SCALE].values.index(s))
               for t, s in [("C#", "major"), ("G", "major"), ("D#", "minor"), ("A", "minor"), ("F", "blues"), ("B", "blues")]}
    assert {(d.FACTORS[TONIC].values[t], d.FACTORS[SCALE].values[s]) for t, s in unheard} == \
        set(splits.HELD_OUT["composition"].entries[0].values())
    for split in ("train", "validation"):
        assert not _pairs(labels[split], TONIC, SCALE) & unheard
        assert not np.any(labels[split][:, RHYTHM1] == labels[split][:, RHYTHM2])
    test = labels["test"]
    held_key = np.array([pair in unheard for pair in map(tuple, test[:, [TONIC, SCALE]].tolist())])
    repeated = test[:, RHYTHM1] == test[:, RHYTHM2]
    assert np.all(held_key | repeated) and held_key.any() and repeated.any() and (held_key & repeated).any()
    # Each tonic keeps two or three scales, each scale ten or twelve tonics, each rhythm 27 partners.
    heard = _pairs(train, TONIC, SCALE)
    assert min(sum(1 for t, _ in heard if t == tonic) for tonic in range(12)) == 2
    assert min(sum(1 for _, s in heard if s == scale) for scale in range(3)) == 10
    assert len(_pairs(train, RHYTHM1, RHYTHM2)) == 28 * 27


@pytest.mark.parametrize("config, octave, train_octaves", [("interpolation", 1, {0, 2}), ("extrapolation", 2, {0, 1})])
def test_the_held_out_octave_is_never_trained_on(config, octave, train_octaves):
    labels = _labels(config)
    assert set(labels["train"][:, OCTAVE]) == set(labels["validation"][:, OCTAVE]) == train_octaves
    assert set(labels["test"][:, OCTAVE]) == {octave}
    # Every other factor is whole in both.
    for split in ("train", "test"):
        for column, factor in enumerate(d.FACTORS):
            if column != OCTAVE:
                assert set(labels[split][:, column]) == set(range(factor.size)), (split, factor.key)


def test_the_descriptions_note_claims_hold():
    """interpolation: every octave-5 note is in octaves 4 and 6; extrapolation: only D7..C#8 are new."""
    tokens, octave = d.generate_tokens(), d.index_to_factors(np.arange(d.NUM_EXAMPLES))[:, OCTAVE]
    notes = [set(np.unique(tokens[octave == o]).tolist()) - {0} for o in range(3)]
    assert notes[1] <= notes[0] | notes[2]
    new = sorted(notes[2] - notes[0] - notes[1])
    names = d.tokens_to_names(np.array(new)).tolist()
    assert len(new) == 12 and set(names) == {"D7", "E-7", "E7", "F7", "F#7", "G7", "G#7", "A7", "B-7", "B7", "C8", "C#8"}
    assert "D7 to C#8 (MIDI 98-109)" in splits.HELD_OUT["extrapolation"].description
    assert "(MIDI 72-97)" in splits.HELD_OUT["interpolation"].description


def test_same_seed_same_split_and_the_held_out_set_does_not_depend_on_it():
    for split in d.SPLITS:
        np.testing.assert_array_equal(splits.split_indices(split, 0, "composition"), splits.split_indices(split, 0, "composition"))
    first = {split: splits.split_indices(split, 0, "interpolation") for split in d.SPLITS}
    second = {split: splits.split_indices(split, 1, "interpolation") for split in d.SPLITS}
    assert not np.array_equal(first["train"], second["train"]) and not np.array_equal(first["test"], second["test"])
    seen = [np.sort(np.concatenate([s["train"], s["validation"]])) for s in (first, second)]
    np.testing.assert_array_equal(*seen)
    # The test split is the first held-out melodies in the seed's permutation: a seeded uniform sample.
    perm = splits.permutation(1)
    held = splits.held_out(d.index_to_factors(perm), "interpolation")
    np.testing.assert_array_equal(second["test"], perm[held][: splits.TEST_SIZE])


def test_random_is_the_default_and_unknown_configs_are_named():
    np.testing.assert_array_equal(splits.split_indices("test", 0, "random"), splits.split_indices("test"))
    assert not splits.held_out(d.index_to_factors([0, 1, 2]), "random").any()
    with pytest.raises(ValueError, match="unknown split config 'compositional'; split configs are random, composition"):
        splits.split_indices("train", config="compositional")
    with pytest.raises(ValueError, match="factor 'octave' has label 3"):
        splits.held_out([[0, 3, 0, 0, 0, 0, 0, 0, 0]], "interpolation")


# ---- the builder configs, built for real at their tiny size


@pytest.mark.parametrize("config", splits.GENERALISATION_CONFIGS)
def test_tiny_generalisation_config_builds_and_loads(config, tmp_path):
    name = f"dmelodies/tiny_{config}"
    builder = tfds.builder(name, data_dir=tmp_path)
    builder.download_and_prepare()
    assert {s: builder.info.splits[s].num_examples for s in d.SPLITS} == {"train": 7000, "validation": 2000, "test": 1000}
    assert builder.builder_config.split_config == config
    for split in d.SPLITS:
        data = tfds.as_numpy(tfds.load(name, split=split, data_dir=tmp_path, batch_size=10_000,
                                       read_config=tfds.ReadConfig(interleave_cycle_length=1)))
        data = next(iter(data))
        np.testing.assert_array_equal(data["index"], splits.split_indices(split, config=config)[: len(data["index"])])
        np.testing.assert_array_equal(data["score"], d.generate_tokens(data["index"]))
        labels = np.stack([data[key] for key in d.FACTOR_KEYS], axis=1)
        np.testing.assert_array_equal(splits.held_out(labels, config), split == "test")


@pytest.mark.parametrize("config", splits.GENERALISATION_CONFIGS)
def test_the_description_says_what_is_held_out(config):
    full = tfds.builder(f"dmelodies/{config}").builder_config.description
    assert full.startswith(splits.HELD_OUT[config].description) and "135,476 held-out melodies" in full
    assert "split seed 2" in tfds.builder(f"dmelodies/{config}_split2").builder_config.description
    assert f"the {config} config's" in tfds.builder(f"dmelodies/tiny_{config}").builder_config.description


def test_cli_builds_a_generalisation_config(tmp_path, capsys):
    from dmelodies_tfds.__main__ import main

    assert main(["build", "--config", "tiny_extrapolation", "--data_dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"dmelodies/tiny_extrapolation/1.0.0 in {tmp_path}/dmelodies/tiny_extrapolation/1.0.0: "
        "train 7,000, validation 2,000, test 1,000 examples")


CARDS = [os.path.join(os.path.dirname(builder_lib.__file__), "README.md"),
         os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "README.md")]


@pytest.mark.parametrize("card", CARDS, ids=["dataset card", "README"])
def test_the_cards_list_each_config_with_its_split_sizes(card):
    rows = {line.split("|")[1].strip(): line for line in open(card, encoding="utf-8") if line.startswith("| `")}
    for config, split_config in [("`full` (default)", "random")] + [(f"`{c}`", c) for c in splits.GENERALISATION_CONFIGS]:
        sizes = [f"{len(splits.split_indices(split, config=split_config)):,}" for split in d.SPLITS]
        assert rows[config].rstrip().endswith("| " + " | ".join(sizes) + " |"), rows[config]
        if split_config != "random":
            held = splits.held_out(d.index_to_factors(np.arange(d.NUM_EXAMPLES)), split_config).sum()
            assert f"({held:,} melodies)" in rows[config]
    tiny = next(row for name, row in rows.items() if name.startswith("`tiny`"))
    assert all(f"`tiny_{c}`" in tiny for c in splits.GENERALISATION_CONFIGS) and tiny.rstrip().endswith("| 7,000 | 2,000 | 1,000 |")
