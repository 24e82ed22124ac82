"""The dataset's Croissant description (MLCommons' JSON-LD metadata for ML datasets), made from the builder.

Croissant (Akhtar et al., "Croissant: A Metadata Format for ML-Ready Datasets", DEEM 2024) lets dataset
search engines and loaders read what a dataset holds. TFDS 4.9 reads Croissant files (its
``CroissantBuilder``) but does not write them, so this module writes one with ``mlcroissant``'s own
classes from what the builder declares, and ships it as ``dmelodies_tfds/dmelodies/croissant.json``;
``python -m dmelodies_tfds croissant`` regenerates it and a test checks that it still matches the builder.

The description follows TFDS's own reading of Croissant: one record set per builder config, named as the
config, whose fields are the builder's features (``score`` an array of 16 token indices, ``index``, one
integer label per factor, each label referring to its factor's enumeration record set, as
``ClassLabel`` names them) and ``split``, read from the shard's file name and referring to the ``splits``
record set (``cr:Split``). The ``configs`` record set gives each config's split seed, split config and
number of examples per split (``python -m dmelodies_tfds build`` writes them; the sizes are the
builder's own, protocol §4). dMelodies is generated, never downloaded: the distribution is each config's
TFRecord shards where ``build`` prepares them under a TFDS data folder, so they carry no checksum.
"""
from __future__ import annotations

import json
import os
import tempfile

from dmelodies_tfds import factors as F
from dmelodies_tfds import melodies as M
from dmelodies_tfds import splits
from dmelodies_tfds.atomic import write_text

CROISSANT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dmelodies", "croissant.json")
TFRECORD = "application/x-tfrecord"
SPLIT_FROM_FILENAME = r"^dmelodies-(train|validation|test)\.tfrecord-\d{5}-of-\d{5}$"


def _builder_description():
    """The builder's info (any config: features, homepage, citation are the same) and its configs."""
    from dmelodies_tfds.dmelodies.dmelodies_dataset_builder import Builder

    with tempfile.TemporaryDirectory(prefix="dmelodies_croissant_") as data_dir:  # reads no prepared data
        info = Builder(config=Builder.BUILDER_CONFIGS[0].name, data_dir=data_dir).info
    return info, Builder.BUILDER_CONFIGS


def _enumeration(mlc, record_set: str, names, description: str):
    """A record set listing ``label`` -> ``name`` (a ``ClassLabel``'s names, the vocabulary)."""
    return mlc.RecordSet(
        id=record_set, name=record_set, description=description, key=[f"{record_set}/label"],
        fields=[mlc.Field(id=f"{record_set}/label", name="label", data_types=[mlc.DataType.INTEGER]),
                mlc.Field(id=f"{record_set}/name", name="name", data_types=[mlc.DataType.TEXT])],
        data=[{f"{record_set}/label": label, f"{record_set}/name": str(name)} for label, name in enumerate(names)])


def _config_record_set(mlc, config, info):
    """The examples of one config, as TFDS's CroissantBuilder names a config's record set."""
    files = f"{config.name}-shards"

    def field(key, description, data_type, **extra):
        return mlc.Field(id=f"{config.name}/{key}", name=key, description=description, data_types=[data_type],
                         source=mlc.Source(file_set=files, extract=mlc.Extract(column=key)), **extra)

    features = info.features
    fields = [
        field("score", f"The melody: {M.SEQUENCE_LENGTH} tokens, one per eighth-note slot (indices into vocabulary).",
              mlc.DataType.INT32, is_array=True, array_shape=str(M.SEQUENCE_LENGTH),
              references=mlc.Source(field="vocabulary/label")),
        field("index", features["index"].doc.desc, mlc.DataType.INT64),
    ]
    for factor in F.FACTORS:
        fields.append(field(factor.key, f"The {factor.key} factor's label ({features[factor.key].num_classes} classes).",
                            mlc.DataType.INT64, references=mlc.Source(field=f"{factor.key}/label")))
    fields.append(mlc.Field(
        id=f"{config.name}/split", name="split", description="The split, read from the shard's file name.",
        data_types=[mlc.DataType.TEXT], references=mlc.Source(field="splits/name"),
        source=mlc.Source(file_set=files, extract=mlc.Extract(file_property=mlc.FileProperty.filename),
                          transforms=[mlc.Transform(regex=SPLIT_FROM_FILENAME)])))
    return mlc.RecordSet(id=config.name, name=config.name, description=config.description,
                         key=[f"{config.name}/index"], fields=fields)


def metadata() -> dict:
    """The Croissant JSON-LD of the ``dmelodies`` builder and all its configs, as a dict."""
    import mlcroissant as mlc

    from dmelodies_tfds.dmelodies.dmelodies_dataset_builder import split_sizes

    info, configs = _builder_description()
    version = str(info.version)
    distribution = [
        mlc.FileSet(id=f"{config.name}-shards", name=f"{config.name}-shards",
                    description=f"The TFRecord shards of dmelodies/{config.name}, as `python -m dmelodies_tfds build "
                                f"--config {config.name}` (or tfds.load) prepares them under a TFDS data folder.",
                    encoding_formats=[TFRECORD], includes=[f"dmelodies/{config.name}/{version}/dmelodies-*.tfrecord-*"])
        for config in configs]
    # A split seed only orders a config's melodies (protocol §4): every seed's splits have the sizes of seed 0's.
    def base(config):
        return config.split_config, json.dumps(config.examples_per_split)

    base_sizes = {base(config): split_sizes(config) for config in configs if config.split_seed == 0}
    sizes = {config.name: base_sizes[base(config)] for config in configs}
    config_fields = [("name", mlc.DataType.TEXT, "The builder config: tfds.load('dmelodies/<name>')."),
                     ("split_config", mlc.DataType.TEXT, "random (the paper's split) or the generalisation split."),
                     ("split_seed", mlc.DataType.INTEGER, "The seed of the split's permutation (protocol §4).")]
    config_fields += [(f"{split}_examples", mlc.DataType.INTEGER, f"Examples in the {split} split.")
                      for split in splits.SPLITS]
    record_sets = [
        mlc.RecordSet(id="splits", name="splits", description="The splits of every config.",
                      data_types=[mlc.DataType.SPLIT], key=["splits/name"],
                      fields=[mlc.Field(id="splits/name", name="name", data_types=[mlc.DataType.TEXT])],
                      data=[{"splits/name": split} for split in splits.SPLITS]),
        mlc.RecordSet(
            id="configs", name="configs", description="The builder's configs and the size of each split.",
            key=["configs/name"],
            fields=[mlc.Field(id=f"configs/{key}", name=key, description=text, data_types=[data_type])
                    for key, data_type, text in config_fields],
            data=[{"configs/name": config.name, "configs/split_config": config.split_config,
                   "configs/split_seed": config.split_seed,
                   **{f"configs/{split}_examples": sizes[config.name][split] for split in splits.SPLITS}}
                  for config in configs]),
        _enumeration(mlc, "vocabulary", M.VOCABULARY, "The tokens of `score`: rest, the continuation symbol __ "
                                                        "and 50 note names."),
        *[_enumeration(mlc, factor.key, info.features[factor.key].names, f"The values of the {factor.key} factor.")
          for factor in F.FACTORS],
        *[_config_record_set(mlc, config, info) for config in configs],
    ]
    citation = info.citation.split("\n\n")[0].strip()
    node = mlc.Metadata(
        name="dmelodies", description=info.description.strip(), cite_as=citation, url=info.homepage,
        version=version, keywords=["music", "disentanglement", "melodies", "symbolic music", "factors of variation"],
        distribution=distribution, record_sets=record_sets)
    return node.to_json()


def croissant_text() -> str:
    return json.dumps(metadata(), indent=1, ensure_ascii=False) + "\n"


def write(path: str | None = None) -> str:
    """Writes the Croissant file atomically (``dmelodies_tfds/dmelodies/croissant.json`` by default)."""
    path = path or CROISSANT_FILE
    write_text(path, croissant_text())
    return path
