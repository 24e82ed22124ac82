"""TFDS's own builder checks on the `tiny` config (a real build, written by the fast path)."""
import tensorflow_datasets as tfds

from dmelodies_tfds.dmelodies import dmelodies_dataset_builder


class DmelodiesTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = dmelodies_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["tiny"]
    SPLITS = {"train": 7000, "validation": 2000, "test": 1000}
    SKIP_CHECKSUMS = True


if __name__ == "__main__":
    tfds.testing.test_main()
