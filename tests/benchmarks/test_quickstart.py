"""The README's end-to-end quickstart (python -m benchmarks.quickstart, benchmarks.pipeline), as a user runs it."""
import json
import os
import re

import pytest

from helpers import run_module, subprocess_env

pytestmark = pytest.mark.integration

# TensorFlow's C++ lines that are logged while it loads, before absl::InitializeLog() and before
# TF_CPP_MIN_LOG_LEVEL is read: no setting silences them (README.md, "Troubleshooting").
_UNSILENCEABLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_CPP_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ (?P<file>[\w.]+):\d+\]")
_CPP_FILES_LOGGING_WHILE_LOADING = {"port.cc", "cudart_stub.cc"}  # oneDNN is on; no CUDA driver


def test_quickstart_runs_end_to_end_and_prints_only_what_a_user_needs(tmp_path):
    """The README's first command as a user runs it (a fresh process, output to a file, the dataset
    built on first use): fewer than 60 lines, no warning that could have been prevented."""
    env = subprocess_env({key: value for key, value in os.environ.items() if not key.startswith("TF_CPP_")})
    done = run_module("benchmarks.quickstart", f"--out={tmp_path}", env=env, cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout
    lines = done.stdout.splitlines() + done.stderr.splitlines()
    assert len(lines) < 60, "\n".join(lines)
    unsilenceable = [line for line in lines if line == _UNSILENCEABLE or (
        (match := _CPP_LOG_LINE.match(line)) and match["file"] in _CPP_FILES_LOGGING_WHILE_LOADING)]
    assert len(unsilenceable) <= 6  # three lines for each of the two libraries TensorFlow loads
    rest = [line for line in lines if line not in unsilenceable]
    assert not [line for line in rest if _CPP_LOG_LINE.match(line)]  # cpu_feature_guard, cuInit, tf.data notices
    assert not [line for line in rest if "warn" in line.lower() or "Traceback" in line]
    assert not [line for line in rest if "Unknown size" in line or "dataset_info.json" in line]
    assert not [c for c in "\x1b\x08\r" if c in done.stdout + done.stderr]  # no progress bars redrawn in a file
    assert "Epoch 10/10" in printed and "[4/4] report" in printed and "reconstructed" in printed
    summary = json.load(open(tmp_path / "quickstart.json"))
    assert set(summary["scores"]) == {"mig", "modularity_explicitness", "sap_score"}
    assert (tmp_path / "reconstruction.mid").exists() and (tmp_path / "report" / "results.csv").exists()
    assert (tmp_path / "run" / "encoder.keras").exists()
