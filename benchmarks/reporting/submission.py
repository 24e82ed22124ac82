"""A submitted run folder: refuse what is malformed or hostile, then re-score every number it claims.

``python -m benchmarks.leaderboard verify RUN_DIR`` takes a run folder as ``benchmarks.train`` and
``benchmarks.evaluate`` leave it (:mod:`benchmarks.run_dir`) from someone else, so nothing in it is
trusted until checked. :func:`inspect` refuses, with a one-line reason, a folder that holds a symbolic
link, anything but plain files and the run's own folders, a name a run does not write, a file over its
size bound, JSON that does not parse or fit the run's schema, a ``.keras`` archive that is not a complete
zip of Keras' own three members, or a metric ``.gin`` that does more than bind the standard protocol's
parameters (no ``import``, ``include`` or scopes). The files it reads are copied into a private
temporary folder, which is what gets deserialised (Keras' safe mode: no code, no pickle) and scored, so
the submitted folder is never written to and cannot change under the check.

:func:`verify` then re-scores the encoder with the standard protocol (protocol §7): each
``metrics/<name>.json`` it claims is recomputed with ``gin_configs/metrics/<name>.gin`` and the bindings
its ``metrics/<name>.gin`` recorded (the sizes and seeds it was scored with), and every number is compared;
``results.json``'s test reconstruction accuracy is re-measured on the test split of the run's own
dataset config, decoding one posterior sample per melody as training's test step does, and must lie
within sampling error of the claim. Scores agree exactly on one kind of processor; ``tolerance`` allows
the float32 rounding that another kind of processor gives (docs/study.md).
"""
from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib

import numpy as np

from benchmarks.run_dir import (DECODER_FILE, ENCODER_FILE, METRICS, RESULTS_FILE, RunProblem, read_metrics,
                                read_results)
from benchmarks.study.configs import METRICS_DIR
from benchmarks.study.suites import metric_file, metric_name
from dmelodies_tfds.text import one_line

KiB, MiB = 2**10, 2**20
# What a run folder may hold, and how large each may be. Only the models, results.json and metrics/ are
# read; logs, checkpoints, a sweep's log and the training lock may be there and are left alone.
ALLOWED_FILES = (
    (re.compile(r"(en|de)coder\.keras"), 64 * MiB),
    (re.compile(r"results\.json"), 1 * MiB),
    (re.compile(r"(operative_)?config\.gin"), 1 * MiB),
    (re.compile(rf"{METRICS}/[a-z0-9_]+\.(json|gin)"), 4 * MiB),
    (re.compile(r"sweep\.log"), 16 * MiB),
    (re.compile(r"\.lock"), 4 * KiB),
    (re.compile(r"logs/(train|validation)/events\.out\.tfevents\.[A-Za-z0-9_.-]+"), 64 * MiB),
    (re.compile(r"checkpoints/(checkpoint|ckpt-\d+\.(index|data-\d{5}-of-\d{5}))"), 256 * MiB),
)
ALLOWED_FOLDERS = {METRICS, "logs", "logs/train", "logs/validation", "checkpoints"}
MAX_TOTAL_BYTES, MAX_ENTRIES = 1024 * MiB, 500
READ = re.compile(rf"({ENCODER_FILE}|{DECODER_FILE}|{RESULTS_FILE}|{METRICS}/.+)$")
# What Keras 3 writes into a .keras archive, and the most its members may unpack to.
KERAS_MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}
MAX_UNPACKED_BYTES = 256 * MiB
# Reconstruction accuracy is re-measured on fresh posterior samples: the claim must lie within this many
# standard errors of the new mean (and at least ACCURACY_FLOOR away before it is called different).
ACCURACY_STANDARD_ERRORS, ACCURACY_FLOOR = 4.0, 0.005
DEFAULT_TOLERANCE = 1e-4


class Refused(ValueError):
    """A submission that is not read further; the message is one line."""


@dataclasses.dataclass
class Verdict:
    """What :func:`verify` found: the claims it re-computed, those it did not reproduce, and notes."""

    checked: list[str]
    mismatches: list[str]
    notes: list[str]

    @property
    def reproduced(self) -> bool:
        return not self.mismatches


def _limit(relative: str) -> int | None:
    return next((limit for pattern, limit in ALLOWED_FILES if pattern.fullmatch(relative)), None)


def _walk(run_dir: str) -> list[tuple[str, int]]:
    """Every file of the folder as (relative path, size), refusing links, odd entries, names and sizes."""
    try:
        top = os.lstat(run_dir)
    except OSError as error:
        raise Refused(f"{run_dir} cannot be read ({one_line(error)})") from None
    if stat.S_ISLNK(top.st_mode):
        raise Refused(f"{run_dir} is a symbolic link: give the run folder itself")
    if not stat.S_ISDIR(top.st_mode):
        raise Refused(f"{run_dir} is not a folder")
    files, pending, total, entries = [], [""], 0, 0
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(os.path.join(run_dir, folder)) as listing:
                found = sorted(listing, key=lambda e: e.name)
        except OSError as error:
            raise Refused(f"{folder or run_dir} cannot be listed ({one_line(error)})") from None
        for entry in found:
            entries += 1
            if entries > MAX_ENTRIES:
                raise Refused(f"the folder holds more than {MAX_ENTRIES} entries: not a run folder")
            relative = f"{folder}/{entry.name}" if folder else entry.name
            shown = ascii(relative)[1:-1]
            if entry.is_symlink():
                raise Refused(f"{shown} is a symbolic link: a submission holds plain files only")
            if entry.is_dir(follow_symlinks=False):
                if relative not in ALLOWED_FOLDERS:
                    raise Refused(f"{shown}/ is not a folder a run holds ({', '.join(sorted(ALLOWED_FOLDERS))})")
                pending.append(relative)
                continue
            if not entry.is_file(follow_symlinks=False):
                raise Refused(f"{shown} is not a plain file")
            limit = _limit(relative)
            if limit is None:
                raise Refused(f"{shown} is not a file a run holds (models, results.json, config.gin, "
                              "operative_config.gin, metrics/<name>.json|.gin, logs, checkpoints)")
            size = entry.stat(follow_symlinks=False).st_size
            if size > limit:
                raise Refused(f"{shown} is {size:,} bytes, over the {limit:,} a run's file may be")
            total += size
            if total > MAX_TOTAL_BYTES:
                raise Refused(f"the folder holds over {MAX_TOTAL_BYTES:,} bytes: not a run folder")
            files.append((relative, size))
    return files


def _read(run_dir: str, relative: str) -> bytes:
    """A file's bytes, opened without following links and bounded by its limit."""
    limit = _limit(relative)
    try:
        handle = os.open(os.path.join(run_dir, relative), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as error:
        raise Refused(f"{relative} cannot be read ({one_line(error)})") from None
    with os.fdopen(handle, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise Refused(f"{relative} is not a plain file")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"{relative} grew over the {limit:,} bytes a run's file may be")
    return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _check_json(relative: str, data: bytes) -> None:
    try:
        json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise Refused(f"{relative} is not valid JSON ({one_line(error)})") from None


def _check_keras(relative: str, data: bytes) -> None:
    """A complete zip of Keras' own members, with no path that leaves it and a bounded unpacked size."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise Refused(f"{relative} is not a complete .keras (zip) archive ({one_line(error)})") from None
    names = [member.filename for member in members]
    unexpected = [name for name in names if name not in KERAS_MEMBERS]
    if unexpected or len(set(names)) != len(names):
        raise Refused(f"{relative} holds {ascii(unexpected[0]) if unexpected else 'a repeated member'}: a .keras "
                      f"archive holds only {', '.join(sorted(KERAS_MEMBERS))}")
    if "config.json" not in names:
        raise Refused(f"{relative} has no config.json: not a Keras model archive")
    if sum(member.file_size for member in members) > MAX_UNPACKED_BYTES:
        raise Refused(f"{relative} unpacks to over {MAX_UNPACKED_BYTES:,} bytes")
    try:
        bad = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as error:
        raise Refused(f"{relative} cannot be unpacked ({one_line(error)})") from None
    if bad is not None:
        raise Refused(f"{relative}: member {bad} is damaged (its CRC does not match)")


# ---- a metric's recorded gin configuration: bindings of the standard protocol's parameters only


@dataclasses.dataclass(frozen=True)
class _Reference:
    name: str
    evaluate: bool

    def __str__(self):
        return f"@{self.name}" + ("()" if self.evaluate else "")


class _Delegate:
    """gin's parser delegate that records references and macros instead of resolving them."""

    def configurable_reference(self, name, evaluate):
        return _Reference(name, evaluate)

    def macro(self, name):
        raise Refused(f"a gin macro (%{name}) is not part of a metric's recorded configuration")


def _statements(text: str, where: str) -> list:
    from gin import config_parser

    try:
        return list(config_parser.ConfigParser(text, _Delegate()))
    except Refused as refused:
        raise Refused(f"{where}: {refused}") from None
    except (SyntaxError, ValueError, TypeError) as error:
        raise Refused(f"{where} is not a gin configuration ({one_line(error)})") from None


def _literal(value) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_literal(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _literal(v) for k, v in value.items())
    return value is None or isinstance(value, (bool, int, float, str))


def _render(value) -> str:
    return str(value) if isinstance(value, _Reference) else repr(value)


def _standard_bindings(path: str) -> list:
    """The binding statements of one of the project's metric configs, following its includes."""
    from gin import config_parser

    with open(path, encoding="utf-8") as file:
        statements = _statements(file.read(), path)
    bindings = []
    for statement in statements:
        if isinstance(statement, config_parser.IncludeStatement):
            bindings += _standard_bindings(os.path.join(os.path.dirname(path), statement.filename))
        elif isinstance(statement, config_parser.BindingStatement):
            bindings.append(statement)
    return bindings


def recorded_bindings(text: str, standard_file: str, where: str) -> list[str]:
    """The bindings of a recorded ``metrics/<name>.gin`` to apply over ``standard_file``: each must bind a
    parameter of a configurable that the standard file binds or references, to a literal or to a
    configurable the standard file references; ``evaluation.name`` and ``evaluation.metrics`` must be the
    standard file's. Anything else (imports, includes, scopes, macros) is refused."""
    from gin import config_parser

    standard = _standard_bindings(standard_file)
    references = {v.name for s in standard for v in _values(s.value) if isinstance(v, _Reference)}
    configurables = {s.selector for s in standard} | references
    fixed = {(s.selector, s.arg_name): s.value for s in standard
             if s.selector == "evaluation" and s.arg_name in ("name", "metrics")}
    bindings = []
    for statement in _statements(text, where):
        if not isinstance(statement, config_parser.BindingStatement):
            raise Refused(f"{where}: line {statement.location.line_num} is not a binding (no import, include or block)")
        key = f"{statement.selector}.{statement.arg_name}"
        if statement.scope or statement.selector not in configurables:
            raise Refused(f"{where} binds {key}, which the standard protocol ({os.path.basename(standard_file)}) "
                          "does not configure")
        for value in _values(statement.value):
            if isinstance(value, _Reference) and value.name not in references:
                raise Refused(f"{where}: {key} refers to @{value.name}, which the standard protocol does not use")
        if not all(isinstance(v, _Reference) or _literal(v) for v in _values(statement.value)):
            raise Refused(f"{where}: {key} is not bound to a literal value")
        wanted = fixed.get((statement.selector, statement.arg_name))
        if wanted is not None and _as_list(statement.value) != _as_list(wanted):
            raise Refused(f"{where} sets {key} = {statement.value!r}, not the standard {wanted!r}")
        bindings.append(f"{key} = {_render(statement.value)}")
    return bindings


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _values(value):
    """The value and, for a list or tuple, its items (references may sit in either)."""
    return [value, *value] if isinstance(value, (list, tuple)) else [value]


# ---- inspection


@dataclasses.dataclass
class Submission:
    """A checked submission: its private copy (``folder``), results and claimed metric results."""

    folder: str
    results: dict
    claims: dict  # metric file name -> its JSON
    recorded: dict  # metric file name -> the recorded gin text, where there is one

    def close(self):
        shutil.rmtree(self.folder, ignore_errors=True)


def _known_metrics() -> set[str]:
    return {metric_name(name[:-4]) for name in os.listdir(METRICS_DIR) if name.endswith(".gin")}


def inspect(run_dir: str) -> Submission:
    """Checks the folder (module docstring) and copies what is read into a private temporary folder;
    ``Refused`` with a one-line reason. The caller closes the result."""
    files = dict(_walk(run_dir))
    for required in (RESULTS_FILE, ENCODER_FILE):
        if required not in files:
            raise Refused(f"the folder has no {required}: not a finished run")
    folder = tempfile.mkdtemp(prefix="dmelodies_submission_")
    try:
        os.makedirs(os.path.join(folder, METRICS))
        known = _known_metrics()
        claims, recorded = {}, {}
        for relative in files:
            if not READ.match(relative):
                continue
            data = _read(run_dir, relative)
            if relative.endswith(".json"):
                _check_json(relative, data)
            elif relative.endswith(".keras"):
                _check_keras(relative, data)
            stem = os.path.splitext(os.path.basename(relative))[0]
            if relative.startswith(f"{METRICS}/") and stem not in known:
                raise Refused(f"{relative}: {stem!r} is not a metric config of gin_configs/metrics")
            with open(os.path.join(folder, relative), "wb") as copy:
                copy.write(data)
            if relative.startswith(f"{METRICS}/") and relative.endswith(".json"):
                claims[stem] = json.loads(data)
            elif relative.startswith(f"{METRICS}/"):
                recorded[stem] = data.decode("utf-8", errors="replace")
        try:
            results = read_results(folder)
            for name in claims:
                claimed_name = read_metrics(os.path.join(folder, METRICS, f"{name}.json"))[0]
                if claimed_name != name:
                    raise Refused(f"{METRICS}/{name}.json names itself {ascii(claimed_name)}, not {name!r}")
        except RunProblem as problem:
            raise Refused(one_line(problem)) from None
        if not claims:
            raise Refused("the folder has no metrics/<name>.json: it claims no score to verify")
        from benchmarks.evaluation.representation import load_decoder, load_encoder

        for file, loader in ((ENCODER_FILE, load_encoder), (DECODER_FILE, load_decoder)):
            if file in files:
                try:
                    loader(folder)  # safe mode: refuses code in the archive
                except (ValueError, OSError) as error:
                    raise Refused(f"{file} cannot be loaded ({one_line(error).replace(folder + os.sep, '')})") from None
        return Submission(folder, results, claims, recorded)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


# ---- re-scoring


def _numbers(value, path: str):
    """(path, number) of every number in a nested result, lists indexed ``[i]``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{path}/{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _numbers(item, f"{path}[{i}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path, value


def _compare(where: str, claimed: dict, measured: dict, tolerance: float) -> tuple[int, list[str]]:
    """How many numbers were compared, and one line for each that differs (or is missing)."""
    claims = dict(_numbers({"scores": claimed.get("scores", {}), "factorwise_mig": claimed.get("factorwise_mig", {})}, ""))
    got = dict(_numbers({"scores": measured.get("scores", {}), "factorwise_mig": measured.get("factorwise_mig", {})}, ""))
    lines = []
    for path, value in claims.items():
        shown = path.removeprefix("scores/")
        if path not in got:
            lines.append(f"{where}: {shown} = {value:.6g} is not a score the metric computes")
        elif not math.isclose(value, got[path], rel_tol=0.0, abs_tol=tolerance):
            lines.append(f"{where}: {shown} claims {value:.6g}, re-scored {got[path]:.6g}")
    lines += [f"{where}: {path.removeprefix('scores/')} is missing (re-scored {got[path]:.6g})"
              for path in got if path not in claims]
    for key in ("seed", "split_seed", "split_config"):
        if key in claimed and claimed[key] != measured.get(key):
            lines.append(f"{where}: {key} claims {claimed[key]!r}, the scoring used {measured.get(key)!r}")
    return len(claims), lines


def _test_melodies(results: dict) -> np.ndarray | None:
    """The test split's tokens of the run's dataset config (protocol §4), or None if it is not dMelodies."""
    import dmelodies_tfds as d
    from dmelodies_tfds.dmelodies.dmelodies_dataset_builder import make_config

    if results.get("dataset") not in (None, "dmelodies") or not results.get("dataset_config"):
        return None
    base = re.sub(r"_split\d+$", "", results["dataset_config"])
    config = make_config(base, int(results.get("split_seed", 0)))
    indices = d.split_indices("test", seed=config.split_seed, config=config.split_config)
    limit = (config.examples_per_split or {}).get("test")
    return d.generate_tokens(indices[:limit] if limit else indices)


def reconstruction_accuracy(encoder, decoder, tokens: np.ndarray, seed: int = 0, batch_size: int = 1024):
    """Per-melody token accuracy of decoding one posterior sample (training's test step, protocol §7)."""
    from benchmarks.evaluation.representation import greedy_decoder, posterior_sample

    sample, decode = posterior_sample(encoder, seed), greedy_decoder(decoder)
    return np.concatenate([np.mean(decode(sample(tokens[i:i + batch_size])) == tokens[i:i + batch_size], axis=1)
                           for i in range(0, len(tokens), batch_size)])


def verify(run_dir: str, tolerance: float = DEFAULT_TOLERANCE) -> Verdict:
    """Checks ``run_dir`` (:func:`inspect`, ``Refused`` if it fails) and re-scores every claim in it."""
    from benchmarks.evaluation import scoring
    from benchmarks.evaluation.representation import load_decoder, load_encoder

    submission = inspect(run_dir)
    checked, mismatches, notes = [], [], []
    try:
        method = submission.results.get("method")
        for name, claimed in sorted(submission.claims.items()):
            standard = scoring.config_file(metric_file(name, method))
            where = f"{METRICS}/{name}.json"
            if name in submission.recorded:
                bindings = recorded_bindings(submission.recorded[name], standard, f"{METRICS}/{name}.gin")
            else:
                bindings = [f"evaluation.random_seed = {int(claimed.get('seed', 0))}"]
                notes.append(f"{where}: no {name}.gin beside it: re-scored with the standard sizes")
            try:
                measured, _ = scoring.score_run(submission.folder, [standard], bindings)
            except (ValueError, FileNotFoundError) as error:
                raise Refused(f"{where} cannot be re-scored ({one_line(error)})") from None
            count, lines = _compare(where, claimed, measured, tolerance)
            checked.append(f"{where}: {count} numbers")
            mismatches += lines
        tokens = _test_melodies(submission.results)
        decoder_there = os.path.exists(os.path.join(submission.folder, DECODER_FILE))
        if tokens is None or not decoder_there:
            notes.append(f"{RESULTS_FILE}: test_reconstruction_accuracy not re-measured "
                         f"({'no decoder.keras' if not decoder_there else 'not a dMelodies run'})")
        else:
            accuracies = reconstruction_accuracy(load_encoder(submission.folder), load_decoder(submission.folder), tokens)
            measured = float(np.mean(accuracies))
            allowed = max(ACCURACY_FLOOR, ACCURACY_STANDARD_ERRORS * float(np.std(accuracies)) / math.sqrt(len(accuracies)))
            claimed = submission.results["test_reconstruction_accuracy"]
            checked.append(f"{RESULTS_FILE}: test_reconstruction_accuracy on {len(tokens):,} test melodies")
            if abs(claimed - measured) > allowed:
                mismatches.append(f"{RESULTS_FILE}: test_reconstruction_accuracy claims {claimed:.4f}, re-measured "
                                  f"{measured:.4f} (± {allowed:.4f} allowed for sampling)")
            inner = submission.results.get("test_metrics", {}).get("reconstruction_accuracy")
            if isinstance(inner, (int, float)) and inner != claimed:
                mismatches.append(f"{RESULTS_FILE}: test_metrics.reconstruction_accuracy ({inner:.6g}) differs from "
                                  f"test_reconstruction_accuracy ({claimed:.6g})")
    finally:
        submission.close()
    return Verdict(checked, mismatches, notes)
