"""The `dmelodies` TFDS dataset folder: builder, catalog README, citation, tags, checksums."""
