"""A run's folder: the one module that knows its file names, its lock, its configuration check and the
schema of its ``results.json``.

    ROOT/<architecture>_<method>/<hyperparameter>=<value>/seed=<seed>/   (benchmarks.study.grid names it)
        config.gin, operative_config.gin   the configuration asked for, and every value used
        checkpoints/, logs/{train,validation}/
        encoder.keras, decoder.keras, results.json   written last: a results file means a finished run
        metrics/<name>.json, metrics/<name>.gin       one per metric config scored
        training_segments.json                       each training process's first step and provenance
        sweep.log                                    a parallel sweep's output for the run

Every file is written atomically (:func:`dmelodies_tfds.atomic.atomic_path`), and one process at a time
trains in a folder (:func:`hold`), so an interrupted run resumes and never leaves half a file behind.
"""
from __future__ import annotations

import contextlib
import difflib
import fcntl
import json
import math
import os
import re
from typing import Sequence

from benchmarks.gin_config import ConfigurationError
from dmelodies_tfds.atomic import write_text
from dmelodies_tfds.text import one_line

CONFIG_FILE, OPERATIVE_CONFIG_FILE, RESULTS_FILE = "config.gin", "operative_config.gin", "results.json"
ENCODER_FILE, DECODER_FILE = "encoder.keras", "decoder.keras"
CHECKPOINTS, LOGS, METRICS = "checkpoints", "logs", "metrics"
LOCK_FILE = ".lock"  # held by the process training in the folder
SWEEP_LOG = "sweep.log"  # where a parallel sweep writes a run's (or a stacked group's) output
SEGMENTS_FILE = "training_segments.json"  # which code trained which steps of a resumed run


class RunProblem(ValueError):
    """A run's file that cannot be used, with the reason."""


def results_path(model_dir: str) -> str:
    return os.path.join(model_dir, RESULTS_FILE)


_SEED_FOLDER = re.compile(r"(^|[/\\])seed=\d+$")


def point_of(run: str) -> str:
    """A run's point, the runs that differ only in their seed: its folder without the trailing
    ``seed=<s>`` (``s=0.1/cnn_beta_vae/beta=4``)."""
    return _SEED_FOLDER.sub("", run.replace("\\", "/"))


def metric_path(model_dir: str, name: str) -> str:
    """``metrics/<name>.json``: the results of the metric config ``name``."""
    return os.path.join(model_dir, METRICS, f"{name}.json")


def status(model_dir: str) -> str:
    """``finished`` (it holds results), ``interrupted`` (checkpoints only) or ``new``."""
    if os.path.exists(results_path(model_dir)):
        return "finished"
    return "interrupted" if os.path.isdir(os.path.join(model_dir, CHECKPOINTS)) else "new"


def missing_metrics(model_dir: str, names: Sequence[str]) -> list[str]:
    """The results files among ``names`` (``metrics/<name>.json``) the run does not hold yet."""
    return [name for name in names if not os.path.exists(metric_path(model_dir, name))]


def _read_json(path: str):
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except json.JSONDecodeError as error:
        raise RunProblem(f"{os.path.basename(path)} is not valid JSON ({error})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RunProblem(f"{os.path.basename(path)} cannot be read ({one_line(error)})") from None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe(value) -> str:
    text = json.dumps(value)
    return (text if len(text) <= 40 else text[:37] + "...") + f" (a {type(value).__name__})"


# results.json: the fields every reader relies on, and what each must be. Training writes more
# (:func:`benchmarks.training.run.train` lists them); a hand-made run may hold just these.
RESULT_FIELDS = {
    "method": (lambda v: isinstance(v, str), "a string"),
    "architecture": (lambda v: isinstance(v, str), "a string"),
    "hyperparameter_name": (lambda v: isinstance(v, str), "a string"),
    "hyperparameter_value": (lambda v: _is_number(v) and math.isfinite(v), "a number"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "test_reconstruction_accuracy": (lambda v: _is_number(v) and 0.0 <= v <= 1.0, "a number in [0, 1]"),
}


def read_results(model_dir: str, checked: bool = True) -> dict:
    """The run's ``results.json``; ``RunProblem`` names the first field that is missing or wrong. Unchecked,
    any JSON object passes (a hand-saved encoder's folder may carry just its split), and a missing file
    reads as ``{}``."""
    path = results_path(model_dir)
    if not checked and not os.path.exists(path):
        return {}
    results = _read_json(path)
    if not isinstance(results, dict):
        raise RunProblem(f"results.json holds {type(results).__name__ if results is not None else 'null'}, "
                         "not an object")
    if not checked:
        return results
    for key, (valid, what) in RESULT_FIELDS.items():
        if key not in results:
            raise RunProblem(f"results.json has no {key!r}")
        if not valid(results[key]):
            raise RunProblem(f"results.json: {key!r} is {_describe(results[key])}, not {what}")
    if not isinstance(results.get("dataset_config", ""), (str, type(None))):  # optional: hand-made runs lack it
        raise RunProblem(f"results.json: 'dataset_config' is {_describe(results['dataset_config'])}, not a string")
    return results


def write_results(model_dir: str, results: dict) -> None:
    write_text(results_path(model_dir), json.dumps(results, indent=2) + "\n")


def record_segment(model_dir: str, step: int, provenance: dict) -> list[dict]:
    """Records that a training process started at ``step`` with ``provenance`` (the code it loaded), and
    returns the segments the run now consists of, oldest first: a process that resumes from ``step``
    discards the steps any earlier process trained from ``step`` on, so their records go. A run resumed
    across commits so names each commit with the steps it trained (``results.json``'s
    ``training_segments``)."""
    path = os.path.join(model_dir, SEGMENTS_FILE)
    try:
        with open(path, encoding="utf-8") as file:
            earlier = json.load(file)
    except FileNotFoundError:
        earlier = []
    except (OSError, ValueError) as error:
        raise RunProblem(f"{SEGMENTS_FILE} cannot be read ({error}): move it aside to resume without the "
                         "record of which code trained the earlier steps") from error
    if not isinstance(earlier, list) or not all(isinstance(s, dict) and isinstance(s.get("from_step"), int)
                                                for s in earlier):
        raise RunProblem(f"{SEGMENTS_FILE} is not a list of segments with a 'from_step'")
    segments = [segment for segment in earlier if segment["from_step"] < step] + [{"from_step": step, **provenance}]
    write_text(path, json.dumps(segments, indent=2) + "\n")
    return segments


def read_metrics(path: str) -> tuple[str, dict, dict]:
    """One ``metrics/<name>.json``: its name, flat scalar scores and factor-wise MIG; ``RunProblem`` if unusable."""
    metrics = _read_json(path)
    where = f"{METRICS}/{os.path.basename(path)}"
    if not isinstance(metrics, dict):
        raise RunProblem(f"{where} holds {type(metrics).__name__}, not an object")
    name = metrics.get("name", os.path.splitext(os.path.basename(path))[0])
    if not isinstance(name, str):
        raise RunProblem(f"{where}: 'name' is {_describe(name)}, not a string")
    groups = metrics.get("scores", {})
    if not isinstance(groups, dict) or not all(isinstance(g, dict) for g in groups.values()):
        raise RunProblem(f"{where}: 'scores' is not an object of objects")
    scores = {}
    for group in groups.values():
        for key, value in group.items():
            if isinstance(value, str):  # every score is a number, a list or an object; text means damage
                raise RunProblem(f"{where}: score {key!r} is {_describe(value)}, not a number")
            if _is_number(value):
                scores[f"{name}/{key}"] = float(value)
        scores.update(_binned_by_distance(name, group, where))
    factorwise = metrics.get("factorwise_mig") or {}
    if not isinstance(factorwise, dict) or not all(_is_number(v) for v in factorwise.values()):
        raise RunProblem(f"{where}: 'factorwise_mig' is not an object of numbers")
    return name, scores, {key: float(value) for key, value in factorwise.items()}


# Scores a metrics file gives per bin of its ``distance_edges`` (the fraction of valid decodes, not the counts).
BINNED_BY_DISTANCE = ("validity_by_distance",)


def _binned_by_distance(name: str, group: dict, where: str) -> dict[str, float]:
    """A score given per distance bin (controllability's ``validity_by_distance``, binned at
    ``distance_edges``) as one flat score per bin, ``<name>/<score>@<bin's lower edge>``, so tables hold it."""
    edges, flat = group.get("distance_edges"), {}
    for key in (key for key in BINNED_BY_DISTANCE if key in group):
        values = group[key]
        if not (isinstance(edges, list) and isinstance(values, list) and len(values) == len(edges)
                and all(_is_number(v) for v in [*edges, *values])):
            raise RunProblem(f"{where}: {key!r} is not one number per bin of 'distance_edges'")
        flat.update({f"{name}/{key}@{edge:g}": float(value) for edge, value in zip(edges, values)})
    return flat


def write_metrics(model_dir: str, result: dict, operative_config: str) -> str:
    """Writes ``metrics/<name>.gin`` (the operative configuration), then ``metrics/<name>.json``: a
    results file means a finished evaluation. Returns the results file's path."""
    path = metric_path(model_dir, result["name"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_text(os.path.join(os.path.dirname(path), f"{result['name']}.gin"), operative_config)
    write_text(path, json.dumps(result, indent=2) + "\n")
    return path


@contextlib.contextmanager
def hold(model_dir: str):
    """Holds an exclusive lock on ``model_dir`` for the run; the kernel releases it if the process dies,
    so a killed run never leaves the folder locked."""
    try:
        os.makedirs(model_dir, exist_ok=True)
        handle = open(os.path.join(model_dir, LOCK_FILE), "a+")
    except OSError as error:
        raise ConfigurationError(f"cannot write to --model_dir {model_dir}: {error.strerror}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            raise ConfigurationError(f"{model_dir} is in use by a training that is still running ({owner}); "
                                     "wait for it to finish or use another --model_dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_writable(model_dir: str) -> None:
    """Refuses, before any data is read, a ``model_dir`` that is a file or cannot be written."""
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise ConfigurationError(f"--model_dir {model_dir} is a file, not a folder")
    existing = os.path.abspath(model_dir)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ConfigurationError(f"--model_dir {model_dir} lies under {existing}, which is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigurationError(f"--model_dir {model_dir} cannot be created or written: {existing} is not writable")


# Bindings that change what a run prints, not what it computes: they may differ between a run and its resumption.
_PRESENTATION_ONLY = re.compile(r"^train\.verbose\s*=.*$", re.MULTILINE)


def _identity(config: str) -> str:
    return _PRESENTATION_ONLY.sub("", config)


def check_config(model_dir: str, config: str) -> None:
    """Refuses a ``model_dir`` that holds a run configured differently from ``config`` (bindings that only
    change what is printed, such as ``train.verbose``, may differ)."""
    path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.exists(path):
        if os.path.exists(os.path.join(model_dir, CHECKPOINTS)):
            raise ConfigurationError(f"{model_dir} holds checkpoints but no {CONFIG_FILE}: use a fresh --model_dir")
        return
    with open(path) as file:
        previous = file.read()
    if _identity(previous) != _identity(config):
        diff = "\n".join(difflib.unified_diff(previous.splitlines(), config.splitlines(), "in model_dir",
                                              "requested", lineterm="", n=0))
        raise ConfigurationError(
            f"{model_dir} holds a run with a different configuration; use another --model_dir, or the "
            f"same configuration to resume it. Differences:\n{diff}"
        )
