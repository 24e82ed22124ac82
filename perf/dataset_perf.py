"""Dataset performance figures: generation, full TFDS builds (TFRecord, ArrayRecord), reads.

    python perf/dataset_perf.py [--data_dir DIR]

Prints one line per figure. Each build runs in a child process so its peak memory (max RSS) is its own.
Random access reads the ArrayRecord build's train split through ``tfds.data_source`` at random positions,
one example at a time and in batches of 512 (``__getitems__``, what Grain and PyTorch samplers call).
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ORIGINAL_MS_PER_MELODY = 2.4  # the release's music21 generator, per the measurement

_BUILD = """
import time, tensorflow_datasets as tfds, dmelodies_tfds
start = time.perf_counter()
tfds.builder("dmelodies", data_dir={data_dir!r}, file_format={file_format!r}).download_and_prepare()
print(time.perf_counter() - start)
"""


def time_generation(repeats=5):
    import dmelodies_tfds as d

    best = min(_timed(d.generate_tokens) for _ in range(repeats))
    original = d.NUM_EXAMPLES * ORIGINAL_MS_PER_MELODY / 1000
    print(f"generate_tokens() all {d.NUM_EXAMPLES:,}: {best:.3f} s (best of {repeats}); "
          f"original generator ~{original / 60:.0f} min -> {original / best:,.0f}x faster")


def time_build(data_dir, file_format="tfrecord"):
    out = subprocess.run([sys.executable, "-c", _BUILD.format(data_dir=data_dir, file_format=file_format)],
                         check=True, capture_output=True, text=True)
    seconds = float(out.stdout.strip().splitlines()[-1])
    # The largest child so far: the TFRecord build runs first, so the ArrayRecord figure is max(both).
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB -> GiB
    print(f"full TFDS build, {file_format} (3 splits, 1,354,752 examples): {seconds:.1f} s; "
          f"peak memory {peak:.2f} GiB")


def time_read(data_dir, repeats=3):
    import tensorflow_datasets as tfds
    import dmelodies_tfds  # noqa: F401  (registers the builder)

    def read():
        ds = tfds.load("dmelodies", split="test", data_dir=data_dir, batch_size=4096)
        return sum(len(batch["index"]) for batch in ds)

    n = read()
    best = min(_timed(read) for _ in range(repeats))
    print(f"tfds.load(split='test', batch_size=4096): {n / best:,.0f} examples/s (best of {repeats})")


def time_random_access(data_dir, reads=20_000, batch=512, repeats=3):
    import numpy as np
    import tensorflow_datasets as tfds
    import dmelodies_tfds  # noqa: F401  (registers the builder)

    source = tfds.data_source("dmelodies", split="train", data_dir=data_dir)
    positions = np.random.RandomState(0).randint(0, len(source), size=reads).tolist()

    def one_at_a_time():
        for position in positions:
            source[position]

    def batched():
        for start in range(0, reads, batch):
            source.__getitems__(positions[start:start + batch])

    for name, read in (("one at a time", one_at_a_time), (f"batches of {batch}", batched)):
        best = min(_timed(read) for _ in range(repeats))
        print(f"tfds.data_source(split='train') at random positions, {name}: {reads / best:,.0f} examples/s "
              f"(best of {repeats}, {reads:,} of {len(source):,})")


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", help="where to build (default: a fresh temporary directory)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU cores")
    time_generation()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or tmp
        time_build(data_dir)
        time_read(data_dir)
    with tempfile.TemporaryDirectory() as tmp:  # one file format per prepared folder
        data_dir = os.path.join(args.data_dir, "array_record") if args.data_dir else tmp
        time_build(data_dir, "array_record")
        time_random_access(data_dir)


if __name__ == "__main__":
    main()
