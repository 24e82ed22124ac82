"""The command line: ``python -m dmelodies_tfds <build|show|export|export-npz|verify-npz|demo|croissant>``.

Each subcommand is a thin layer over the package's API. Bad input (an unknown factor or value, an
index out of range, an existing output path, a missing file, a damaged dataset) ends with one line
on stderr and exit status 2, never a traceback. ``--help`` is plain text (no reStructuredText
markup) and shows every option's default.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from dmelodies_tfds import factors as F
from dmelodies_tfds import melodies as M
from dmelodies_tfds import splits
from dmelodies_tfds.atomic import OutputExistsError, check_output_path
from dmelodies_tfds.dmelodies.dmelodies_dataset_builder import BASE_CONFIGS
from dmelodies_tfds.text import one_line, plain_text

FORMATS = {"midi": ".mid", "musicxml": ".musicxml"}


def parse_factor(text: str) -> tuple[int, int]:
    """``"tonic=G"`` -> (factor column, label); errors name the factor or value at fault."""
    key, equals, value = text.partition("=")
    if not equals:
        raise ValueError(f"--factor {text!r}: expected KEY=VALUE, e.g. tonic=G or scale=minor")
    key = key.strip()
    label = F.factor_label(key, value)
    return F.FACTOR_KEYS.index(key), label


def select(indices=None, factor_specs=()) -> np.ndarray:
    """The melodies chosen by explicit ``indices``, or every melody with the given factor values."""
    if indices is not None:
        return F.check_indices(indices)  # exact: a huge index is named as given, never wrapped
    choices = [np.arange(size) for size in F.FACTOR_SIZES]
    given = set()
    for spec in factor_specs:
        column, label = parse_factor(spec)
        if column in given:
            raise ValueError(f"factor '{F.FACTOR_KEYS[column]}' is given twice")
        given.add(column)
        choices[column] = np.array([label])
    grid = np.meshgrid(*choices, indexing="ij")
    return np.ravel_multi_index(tuple(g.ravel() for g in grid), F.FACTOR_SIZES).astype(np.int64)


def describe(index: int) -> str:
    """One line of factor values of melody ``index``, e.g. ``tonic=C octave=4 ...``."""
    values = F.describe(F.index_to_factors(index)[0])
    return " ".join(f"{key}={value}" for key, value in values.items())


def format_tokens(tokens) -> str:
    names = M.tokens_to_names(tokens).tolist()
    bar = M.SLOTS_PER_BAR
    return " | ".join(" ".join(names[start:start + bar]) for start in range(0, len(names), bar))


def _chosen(args) -> np.ndarray:
    if args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    if args.index is None and not args.factor:
        raise ValueError("choose melodies with --index I [I ...] or --factor KEY=VALUE (repeatable)")
    return select(args.index, args.factor or ())


def cmd_show(args) -> int:
    chosen = _chosen(args)
    if args.factor:
        print(f"{len(chosen):,} melodies match; showing {min(len(chosen), args.limit):,}")
    shown = chosen[: args.limit]
    for index, tokens in zip(shown, M.generate_tokens(shown)):
        print(f"melody {index}: {describe(index)}")
        print(f"  {format_tokens(tokens)}")
    if len(chosen) > len(shown):
        print(f"... and {len(chosen) - len(shown):,} more (raise --limit or add --factor values)")
    return 0


def cmd_export(args) -> int:
    from dmelodies_tfds import music

    chosen = unique_in_order(_chosen(args))  # `--index 5 5` writes melody 5 once
    if len(chosen) > args.limit:
        raise ValueError(
            f"the selection has {len(chosen):,} melodies, more than --limit {args.limit}; "
            "add --factor values or raise --limit"
        )
    output_folder(args.out)
    write = {"midi": music.write_midi, "musicxml": music.write_musicxml}[args.format]
    paths = [melody_path(args.out, index, args.format) for index in chosen]
    for path in paths:  # refuse before writing anything, so a refused export writes nothing
        check_output_path(path, args.overwrite)
    for index, tokens, path in zip(chosen, M.generate_tokens(chosen), paths):
        write(tokens, path, title=f"dMelodies {index}: {describe(index)}", overwrite=args.overwrite)
        print(f"wrote {path}")
    return 0


def output_folder(path: str) -> str:
    """Creates the ``--out`` folder if missing; a clear error if ``path`` is a file."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(f"--out {path} is a file, not a folder")
    os.makedirs(path, exist_ok=True)
    return path


def unique_in_order(indices: np.ndarray) -> np.ndarray:
    """``indices`` without repeats, each kept where it first occurs."""
    _, first = np.unique(indices, return_index=True)
    return indices[np.sort(first)]


def melody_path(out: str, index: int, file_format: str) -> str:
    return os.path.join(out, f"dmelodies_{int(index):07d}{FORMATS[file_format]}")


def cmd_export_npz(args) -> int:
    from dmelodies_tfds import release

    path = release.export_npz(args.path, overwrite=args.overwrite)
    print(f"wrote {path} ({os.path.getsize(path):,} bytes): {F.NUM_EXAMPLES:,} melodies in the release layout")
    return 0


def cmd_verify_npz(args) -> int:
    from dmelodies_tfds import release

    print(release.verify_npz(args.path, trust=args.trust).summary())
    return 0


def build(config: str, data_dir: str | None, file_format: str | None = None):
    """Build (or reuse) the ``dmelodies/<config>`` TFDS dataset; returns the prepared builder.

    ``file_format`` "array_record" writes ArrayRecord shards, read by position with ``tfds.data_source``;
    None is TFDS's default, TFRecord. The builder itself waits for another process building the same
    dataset, removes the leftovers of killed builds and names a damaged prepared dataset (see
    ``dmelodies_dataset_builder``).
    """
    from dmelodies_tfds.dmelodies.dmelodies_dataset_builder import Builder

    builder = Builder(config=config, data_dir=data_dir, file_format=file_format)
    builder.download_and_prepare()
    return builder


def summarize(builder) -> str:
    counts = ", ".join(f"{split} {builder.info.splits[split].num_examples:,}" for split in splits.SPLITS)
    return f"{builder.info.full_name} in {builder.data_dir}: {counts} examples"


def cmd_build(args) -> int:
    print(summarize(build(args.config, args.data_dir, args.file_format)))
    return 0


def cmd_demo(args) -> int:
    from dmelodies_tfds import music

    output_folder(args.out)
    path, tokens = melody_path(args.out, 0, "midi"), M.generate_tokens(0)[0]
    check_output_path(path, args.overwrite)  # before the build, not after it
    builder = build("tiny", args.data_dir or os.path.join(args.out, "tensorflow_datasets"))
    print(summarize(builder))
    # A slice, not take(1): TFDS caches a small split whole, and a half-read cache logs a warning.
    first = next(iter(builder.as_dataset(split="train[:1]").as_numpy_iterator()))
    index = int(first["index"])
    values = " ".join(f"{key}={builder.info.features[key].int2str(first[key])}" for key in F.FACTOR_KEYS)
    print(f"first train example, melody {index}: {values}")
    print(f"  {format_tokens(first['score'])}")
    music.write_midi(tokens, path, title=f"dMelodies 0: {describe(0)}", overwrite=args.overwrite)
    print(f"melody 0: {describe(0)}\n  {format_tokens(tokens)}\nwrote {path}")
    return 0


def cmd_croissant(args) -> int:
    from dmelodies_tfds import croissant

    print(f"wrote {croissant.write(args.out)}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dmelodies_tfds", description=plain_text(__doc__.splitlines()[0]))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def selection(sub):
        chosen = sub.add_mutually_exclusive_group()
        chosen.add_argument("--index", type=int, nargs="+", metavar="I", help="melody indices, 0..N-1")
        chosen.add_argument("--factor", action="append", metavar="KEY=VALUE",
                            help="fix a factor, e.g. --factor tonic=G --factor scale=minor (repeatable)")

    sub = commands.add_parser("build", help="build the dmelodies TFDS dataset (with a progress bar)")
    sub.add_argument("--config", choices=BASE_CONFIGS, default="full",
                     help="full: all 1,354,752 melodies in the paper's split; tiny: 10,000 for tests and demos; "
                          "composition, interpolation, extrapolation: the generalisation splits; "
                          "tiny_<split>: 10,000 of those (default: %(default)s)")
    sub.add_argument("--data_dir", help="TFDS data folder (default: TFDS's, ~/tensorflow_datasets)")
    sub.add_argument("--file_format", choices=("tfrecord", "array_record"),
                     help="array_record: read by position with tfds.data_source "
                          "(default: the format already prepared there, else tfrecord)")
    sub.set_defaults(func=cmd_build)

    sub = commands.add_parser("show", help="print melodies' tokens and factor values")
    selection(sub)
    sub.add_argument("--limit", type=int, default=10, help="print at most this many (default: %(default)s)")
    sub.set_defaults(func=cmd_show)

    sub = commands.add_parser("export", help="write melodies as MIDI or MusicXML files")
    selection(sub)
    sub.add_argument("--out", required=True, help="output folder (created if missing)")
    sub.add_argument("--format", choices=tuple(FORMATS), default="midi", help="file format (default: %(default)s)")
    sub.add_argument("--limit", type=int, default=100, help="refuse selections larger than this (default: %(default)s)")
    sub.add_argument("--overwrite", action="store_true", help="replace existing files")
    sub.set_defaults(func=cmd_export)

    sub = commands.add_parser("export-npz", help="write the whole dataset in the release's .npz layout")
    sub.add_argument("path")
    sub.add_argument("--overwrite", action="store_true", help="replace an existing file")
    sub.set_defaults(func=cmd_export_npz)

    sub = commands.add_parser("verify-npz", help="check a release .npz against the generator")
    sub.add_argument("path")
    sub.add_argument("--trust", action="store_true",
                     help="required: the file holds pickled objects, which can run code when loaded")
    sub.set_defaults(func=cmd_verify_npz)

    sub = commands.add_parser("demo", help="build the tiny config, summarise it, export melody 0 as MIDI")
    sub.add_argument("--out", required=True, help="folder for the MIDI file and the dataset (created if missing)")
    sub.add_argument("--data_dir", help="TFDS data folder (default: OUT/tensorflow_datasets)")
    sub.add_argument("--overwrite", action="store_true", help="replace an existing MIDI file")
    sub.set_defaults(func=cmd_demo)

    sub = commands.add_parser("croissant", help="write the Croissant (JSON-LD) description of the dataset and its configs")
    sub.add_argument("--out", default=None, help="where to write it (default: the dataset folder's croissant.json)")
    sub.set_defaults(func=cmd_croissant)
    return parser


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.func(args)
    except OutputExistsError as error:  # the API's words, in the command line's terms
        print(f"error: {error.cli_message()}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as error:  # bad input or an output refused: one line, no traceback
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from dmelodies_tfds import console

    console.quiet_program()  # before TensorFlow loads: the subcommands import it
    sys.exit(main())
