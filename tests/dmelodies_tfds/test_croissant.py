"""The shipped Croissant description: valid for mlcroissant, current with the builder (its configs, features,
splits and their sizes), and its file sets and split rule match what a build writes."""
from __future__ import annotations

import glob
import json
import os
import re

import pytest
import tensorflow_datasets as tfds

import dmelodies_tfds as d
from dmelodies_tfds import croissant
from dmelodies_tfds.__main__ import main
from dmelodies_tfds.dmelodies.dmelodies_dataset_builder import Builder, split_sizes

mlc = pytest.importorskip("mlcroissant", reason="mlcroissant validates the Croissant file (the test extras)")


@pytest.fixture(scope="module")
def shipped():
    with open(croissant.CROISSANT_FILE, encoding="utf-8") as file:
        return json.load(file)


def test_the_shipped_file_is_what_the_command_generates(tmp_path, capsys):
    assert main(["croissant", "--out", str(tmp_path / "croissant.json")]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'croissant.json'}\n"
    with open(croissant.CROISSANT_FILE, encoding="utf-8") as shipped:
        assert (tmp_path / "croissant.json").read_text(encoding="utf-8") == shipped.read(), (
            "dmelodies_tfds/dmelodies/croissant.json is stale: run python -m dmelodies_tfds croissant")


def test_mlcroissant_validates_it():
    dataset = mlc.Dataset(jsonld=croissant.CROISSANT_FILE)  # raises ValidationError on any error
    assert dataset.metadata.name == "dmelodies"


def test_it_describes_every_config_feature_split_and_size(shipped, tmp_path):
    record_sets = {record_set["@id"]: record_set for record_set in shipped["recordSet"]}
    configs = [config.name for config in Builder.BUILDER_CONFIGS]
    assert len(configs) == 8 * 3 and set(configs) <= set(record_sets)  # 8 configs, each with split seeds 0-2
    info = tfds.builder("dmelodies/tiny", data_dir=str(tmp_path)).info  # an unprepared builder: its declarations
    for name in configs:
        fields = [field["name"] for field in record_sets[name]["field"]]
        assert sorted(fields) == sorted([*info.features.keys(), "split"])
    for factor in d.FACTORS:  # each label's names, as its ClassLabel has them
        rows = record_sets[factor.key]["data"]
        assert [row[f"{factor.key}/name"] for row in rows] == info.features[factor.key].names
    assert [row["vocabulary/name"] for row in record_sets["vocabulary"]["data"]] == list(d.VOCABULARY)
    assert [row["splits/name"] for row in record_sets["splits"]["data"]] == list(d.SPLITS)
    sizes = {row["configs/name"]: {split: row[f"configs/{split}_examples"] for split in d.SPLITS}
             for row in record_sets["configs"]["data"]}
    assert sizes["full"] == {"train": 948326, "validation": 270950, "test": 135476}
    for config in Builder.BUILDER_CONFIGS:
        if config.name.endswith("_split2"):  # every size, once per base config (a seed only reorders)
            assert sizes[config.name] == split_sizes(config), config.name


def test_its_file_sets_and_split_rule_match_a_build(shipped, tmp_path):
    tfds.builder("dmelodies/tiny", data_dir=str(tmp_path)).download_and_prepare()
    info = tfds.builder("dmelodies/tiny", data_dir=str(tmp_path)).info
    file_set = next(f for f in shipped["distribution"] if f["@id"] == "tiny-shards")
    shards = glob.glob(os.path.join(str(tmp_path), file_set["includes"]))
    assert shards
    found = {}
    for shard in shards:
        split = re.match(croissant.SPLIT_FROM_FILENAME, os.path.basename(shard)).group(1)
        found[split] = found.get(split, 0) + 1
    assert found == {split: info.splits[split].num_shards for split in d.SPLITS}
    row = next(r for r in next(rs for rs in shipped["recordSet"] if rs["@id"] == "configs")["data"]
               if r["configs/name"] == "tiny")
    assert {split: row[f"configs/{split}_examples"] for split in d.SPLITS} == {
        split: info.splits[split].num_examples for split in d.SPLITS}
