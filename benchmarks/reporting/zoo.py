"""The model zoo: every trained model committed under ``results/``, listed in one index, ``results/zoo.json``.

Each study of ``results/`` publishes its runs' encoders and decoders (docs/study.md), so anyone can score
or explore a model without training it. The index names each model (``<study>/<folder under runs/>``,
e.g. ``reference/s=0.1/cnn_beta_vae/beta=4/seed=0``), says what it is (architecture, method,
hyperparameter, seed, split, budget s: 100·s epochs, protocol §9), which commit trained it (its
``results.json`` provenance, where recorded), its headline scores, and the SHA-256 and size of each of its
files. :func:`load` checks those hashes before anything is deserialised, so a model is used only as the
study published it, and the ``.keras`` files are read with Keras' safe mode (never a pickle).

A model is listed when its run finished (``results.json`` and ``encoder.keras``) and git tracks both:
a sweep writes new runs into ``results/`` while they train and score, and only what was committed
is published. Of a listed run, the index covers the tracked files among :data:`MODEL_FILES` and
``metrics/*.json``/``*.gin``; logs and ``sweep.log`` are not model files. The index is deterministic
(no dates), so :func:`check` compares it with one built afresh.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import subprocess
import tempfile
from typing import NamedTuple

from benchmarks.run_dir import (CONFIG_FILE, DECODER_FILE, ENCODER_FILE, METRICS, OPERATIVE_CONFIG_FILE, RESULTS_FILE,
                                RunProblem, read_metrics, read_results)
from dmelodies_tfds.atomic import write_text
from dmelodies_tfds.dmelodies.dmelodies_dataset_builder import make_config
from dmelodies_tfds.text import one_line

INDEX_FILE = "zoo.json"
FORMAT = 1
RUNS = "runs"  # results/<study>/runs/<run>: where a study keeps its runs
MODEL_FILES = (ENCODER_FILE, DECODER_FILE, CONFIG_FILE, OPERATIVE_CONFIG_FILE, RESULTS_FILE)
# The scores an entry carries (the report's keys: <metrics file>/<score>), with the label tables use.
HEADLINE_SCORES = {
    "reconstruction_accuracy": "accuracy",
    "mig/discrete_mig": "MIG",
    "modularity_explicitness/modularity_score": "Modularity",
    "sap_score/SAP_score": "SAP",
    "controllability/controllability": "controllability",
    "controllability/robust_controllability": "robust controllability",
    "controllability/latent_hole": "latent holes",
    "interpretability/interpretability": "interpretability",
    "generalisation/reconstruction_accuracy": "held-out accuracy",
    "generalisation/mean_r2": "held-out R²",
}
_BUDGET_FOLDER = re.compile(r"^s=(\d+(?:\.\d+)?)$")


class ZooError(ValueError):
    """The index, a name or a model file that cannot be used, with the reason."""


class NotACheckout(ZooError):
    """git cannot list the committed files: the folder is not in a git checkout (an installed copy, a tarball)."""


class ZooModel(NamedTuple):
    """A model of the zoo: its networks and its operative gin configuration (the text of ``operative_config.gin``)."""

    encoder: object
    decoder: object
    config: str


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tracked_files(root: str) -> list[str]:
    """The files git tracks under ``root``, relative to it; ``ZooError`` outside a git checkout."""
    try:
        done = subprocess.run(["git", "-C", root, "ls-files", "-z", "--", "."], capture_output=True, timeout=60,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise NotACheckout(f"cannot run git to list the committed runs under {root} ({one_line(error)})") from None
    if done.returncode != 0:
        raise NotACheckout(f"{root} is not in a git checkout: the zoo lists committed runs only (git ls-files): "
                       f"{one_line(done.stderr.decode(errors='replace'))}")
    return sorted(name for name in done.stdout.decode().split("\0") if name)


def _tracked_run_files(root: str) -> dict[str, set[str]]:
    """``{run folder relative to root: its tracked model and metrics files}`` for every ``<study>/runs/.../``
    folder git tracks any of them in, finished or not."""
    by_folder: dict[str, set[str]] = {}
    for name in tracked_files(root):
        folder, base = os.path.split(name)
        parts = folder.split("/")
        if len(parts) >= 3 and parts[1] == RUNS and base in MODEL_FILES:
            by_folder.setdefault(folder, set()).add(base)
        elif len(parts) >= 4 and parts[1] == RUNS and parts[-1] == METRICS and base.endswith((".json", ".gin")):
            by_folder.setdefault(os.path.dirname(folder), set()).add(f"{METRICS}/{base}")
    return by_folder


def unfinished_committed_runs(root: str) -> list[str]:
    """Run folders (``<study>/runs/.../`` with a tracked ``config.gin``) committed without their
    ``results.json``: a run committed while it trained, whose partial logs and checkpoints' neighbours
    should not be published (``git rm -r --cached`` them until the run lands)."""
    return sorted(folder for folder, files in _tracked_run_files(root).items()
                  if CONFIG_FILE in files and RESULTS_FILE not in files)


def committed_runs(root: str) -> dict[str, list[str]]:
    """``{run folder relative to root: its tracked model files}`` for every finished, committed run:
    ``<study>/runs/.../`` folders whose ``results.json`` and ``encoder.keras`` git tracks."""
    return {folder: sorted(files) for folder, files in sorted(_tracked_run_files(root).items())
            if RESULTS_FILE in files and ENCODER_FILE in files}


def model_name(folder: str) -> str:
    """``reference/runs/s=0.1/cnn_beta_vae/beta=4/seed=0`` -> ``reference/s=0.1/cnn_beta_vae/beta=4/seed=0``."""
    study, runs, rest = folder.split("/", 2)
    assert runs == RUNS, folder
    return f"{study}/{rest}"


def _budget(folder: str, epochs) -> float | None:
    """The schedule scale s: the ``s=<s>`` folder a study keeps each budget in, else epochs / 100 (protocol §9)."""
    for part in folder.split("/"):
        match = _BUDGET_FOLDER.match(part)
        if match:
            return float(match.group(1))
    return round(epochs / 100, 6) if isinstance(epochs, int) else None


def entry_for(root: str, folder: str, files: list[str]) -> dict:
    """The index entry of the committed run in ``root/folder`` (``files``: its tracked model files)."""
    model_dir = os.path.join(root, folder)
    name = model_name(folder)
    try:
        results = read_results(model_dir)
        scores = {"reconstruction_accuracy": results["test_reconstruction_accuracy"]}
        for file in files:
            if file.startswith(f"{METRICS}/") and file.endswith(".json"):
                scores.update(read_metrics(os.path.join(model_dir, file))[1])
    except RunProblem as problem:
        raise ZooError(f"{name}: {problem}") from None
    dataset_config = results.get("dataset_config")
    try:
        split_config = make_config(dataset_config).split_config if dataset_config else None
    except ValueError:
        split_config = None
    provenance = results.get("provenance") if isinstance(results.get("provenance"), dict) else {}
    listed = {}
    for file in files:
        path = os.path.join(model_dir, file)
        if not os.path.isfile(path):
            raise ZooError(f"{name}: {file} is tracked by git but missing from the working tree")
        listed[file] = {"sha256": sha256_file(path), "bytes": os.path.getsize(path)}
    return {
        "name": name,
        "path": folder,
        "study": folder.split("/")[0],
        "architecture": results["architecture"],
        "method": results["method"],
        "hyperparameter": results["hyperparameter_name"],
        "value": results["hyperparameter_value"],
        "seed": results["seed"],
        "split_seed": results.get("split_seed"),
        "dataset_config": dataset_config,
        "split_config": split_config,
        "budget": _budget(folder, results.get("epochs")),
        "epochs": results.get("epochs"),
        "commit": provenance.get("commit"),
        "bytes": sum(f["bytes"] for f in listed.values()),
        "files": listed,
        "scores": {key: scores[key] for key in HEADLINE_SCORES if key in scores},
    }


def build_index(root: str = "results") -> dict:
    """The index of every finished, committed run under ``root`` (module docstring)."""
    if not os.path.isdir(root):
        raise ZooError(f"{root!r} is not a folder: give the checkout's results/ folder")
    entries = [entry_for(root, folder, files) for folder, files in committed_runs(root).items()]
    return {
        "format": FORMAT,
        "description": "The dMelodies model zoo: every finished, committed run under results/ (docs/zoo.md). "
                       "Paths are relative to this file's folder; python -m benchmarks.zoo index rebuilds it.",
        "models": len(entries),
        "bytes": sum(entry["bytes"] for entry in entries),
        "entries": entries,
    }


def index_path(root: str) -> str:
    return os.path.join(root, INDEX_FILE)


def write_index(root: str = "results") -> dict:
    """Builds the index and writes ``root/zoo.json`` atomically; returns it."""
    index = build_index(root)
    write_text(index_path(root), json.dumps(index, indent=1, ensure_ascii=False) + "\n")
    return index


def read_index(root: str = "results") -> dict:
    """``root/zoo.json``; ``ZooError`` naming what is wrong with it."""
    path = index_path(root)
    if not os.path.isfile(path):
        raise ZooError(f"no model zoo index at {path}: run from the checkout's root, or pass its results/ folder "
                       "(python -m benchmarks.zoo index writes it)")
    try:
        with open(path, encoding="utf-8") as file:
            index = json.load(file)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ZooError(f"{path} cannot be read ({one_line(error)}); rebuild it with python -m benchmarks.zoo index") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT or not isinstance(index.get("entries"), list):
        raise ZooError(f"{path} is not a format-{FORMAT} zoo index; rebuild it with python -m benchmarks.zoo index")
    return index


def find(name: str, index: dict) -> dict:
    """The entry called ``name``: a full name, or the end of exactly one name at a ``/`` (``s=0.3/cnn_beta_vae/
    beta=4/seed=0``); ``ZooError`` listing the candidates of an ambiguous name or the closest of an unknown one."""
    names = {entry["name"]: entry for entry in index["entries"]}
    wanted = name.strip("/")
    if wanted in names:
        return names[wanted]
    matches = [full for full in names if full.endswith("/" + wanted)]
    if len(matches) == 1:
        return names[matches[0]]
    if matches:
        raise ZooError(f"{name!r} is ambiguous: {len(matches)} models end with it ({', '.join(matches[:6])}"
                       f"{', ...' if len(matches) > 6 else ''}); give more of the name")
    close = difflib.get_close_matches(wanted, names, n=5, cutoff=0.5)
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise ZooError(f"no model {name!r} in the zoo ({len(names)} models; python -m benchmarks.zoo list){hint}")


def verified_bytes(root: str, entry: dict, file: str) -> bytes:
    """The content of one of the entry's files, after checking its size and SHA-256 against the index."""
    listed = entry["files"].get(file)
    if listed is None:
        raise ZooError(f"{entry['name']} lists no {file}")
    path = os.path.join(root, entry["path"], file)
    try:
        with open(path, "rb") as handle:
            data = handle.read(listed["bytes"] + 1)
    except OSError as error:
        raise ZooError(f"{entry['name']}: {file} cannot be read ({one_line(error)})") from None
    if len(data) != listed["bytes"] or hashlib.sha256(data).hexdigest() != listed["sha256"]:
        raise ZooError(f"{entry['name']}: {file} differs from the zoo index (SHA-256 or size): refusing to use it; "
                       "restore it (git checkout) or, if the change is meant, rebuild the index")
    return data


def verify_entry(root: str, entry: dict) -> None:
    """Checks every file of the entry against the index (``ZooError`` naming the first that differs)."""
    for file in entry["files"]:
        verified_bytes(root, entry, file)


def load(name: str, root: str = "results") -> ZooModel:
    """The zoo's model ``name`` (see :func:`find`) as (encoder, decoder, operative gin config).

    Every file of the model is checked against the index first; the networks are then deserialised from
    the checked bytes (copied to a private temporary folder), with Keras' safe mode.
    """
    entry = find(name, read_index(root))
    verify_entry(root, entry)
    from benchmarks.evaluation.representation import load_decoder, load_encoder

    with tempfile.TemporaryDirectory(prefix="dmelodies_zoo_") as folder:
        for file in (ENCODER_FILE, DECODER_FILE):
            if file in entry["files"]:
                with open(os.path.join(folder, file), "wb") as handle:
                    handle.write(verified_bytes(root, entry, file))
        encoder = load_encoder(folder)
        decoder = load_decoder(folder) if DECODER_FILE in entry["files"] else None
    config = verified_bytes(root, entry, OPERATIVE_CONFIG_FILE).decode() if OPERATIVE_CONFIG_FILE in entry["files"] else ""
    return ZooModel(encoder, decoder, config)


def changed_files(root: str = "results") -> list[str]:
    """One line for each listed file whose SHA-256 or size differs from ``root/zoo.json``, or that is missing."""
    problems = []
    for entry in read_index(root)["entries"]:
        for file in entry["files"]:
            try:
                verified_bytes(root, entry, file)
            except ZooError as error:
                problems.append(str(error))
    return problems


def stale_entries(root: str = "results") -> list[str]:
    """One line for each difference between ``root/zoo.json`` and the index built afresh from the committed
    runs: a run the index lacks, an entry whose run is gone or no longer committed, an entry that differs
    from its run's files; and each run folder committed unfinished. ``NotACheckout`` outside a git checkout."""
    index, fresh = read_index(root), build_index(root)
    listed = {entry["name"]: entry for entry in index["entries"]}
    current = {entry["name"]: entry for entry in fresh["entries"]}
    problems = [f"{name}: a committed run that the index lacks" for name in current if name not in listed]
    problems += [f"{name}: listed, but its run folder is gone or no longer committed" for name in listed
                 if name not in current]
    for name in sorted(set(listed) & set(current)):
        fields = sorted(key for key in set(listed[name]) | set(current[name])
                        if listed[name].get(key) != current[name].get(key))
        if fields:
            problems.append(f"{name}: the index's {', '.join(fields)} differ from the run's files")
    if not problems and index != fresh:
        problems.append(f"{index_path(root)} differs from the index built afresh (its totals or description)")
    problems += [f"{folder}: a run folder committed without results.json (a run committed while it trained: "
                 "git rm -r --cached it until it lands)" for folder in unfinished_committed_runs(root)]
    return problems


def check(root: str = "results") -> list[str]:
    """What is wrong with ``root/zoo.json`` (:func:`changed_files`, then :func:`stale_entries`), one line
    each; empty when every listed file matches and the index lists exactly the committed runs."""
    return changed_files(root) + stale_entries(root)
