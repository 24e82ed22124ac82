"""Provenance: a result names the commit, the uncommitted changes and the packages that produced it."""
import importlib.metadata
import os
import shutil
import subprocess

import pytest

from benchmarks import provenance


def test_packages_are_the_installed_versions():
    versions = provenance.package_versions()
    assert versions["numpy"] == importlib.metadata.version("numpy")
    assert versions["tensorflow"] == importlib.metadata.version("tensorflow")
    assert "python" in versions


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_commit_and_the_changed_sources_of_a_checkout(tmp_path, monkeypatch):
    """A fresh repository with one committed source file: clean, then one changed and one new file listed."""
    def git(*arguments):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *arguments],
                       check=True, capture_output=True)

    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "train.py").write_text("a = 1\n")
    (tmp_path / "README.md").write_text("not a source\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    monkeypatch.setattr(provenance, "REPOSITORY", str(tmp_path))
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    clean = provenance.provenance()
    assert clean["commit"] == head.strip() and clean["source_changes"] == []

    (tmp_path / "benchmarks" / "train.py").write_text("a = 2\n")
    (tmp_path / "gin_configs").mkdir()
    (tmp_path / "gin_configs" / "new.gin").write_text("x = 1\n")
    (tmp_path / "README.md").write_text("changed, but not a source\n")
    assert provenance.provenance()["source_changes"] == ["benchmarks/train.py", "gin_configs/new.gin"]


def test_outside_a_checkout_there_is_no_commit(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "REPOSITORY", str(tmp_path))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", os.path.dirname(str(tmp_path)))
    found = provenance.provenance()
    assert found["commit"] is None and found["source_changes"] is None
    assert found["packages"] == provenance.package_versions()


def test_the_processor_its_features_and_the_numeric_environment(tmp_path, monkeypatch):
    """The kernels a run's arithmetic used depend on the processor's extensions and a few variables."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU 9000\nflags\t\t: fpu sse4_2 avx avx2 fma "
                       "avx512f avx512_vnni\n\nprocessor\t: 1\nmodel name\t: Some CPU 9000\nflags\t\t: amx_tile\n")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    found = provenance.processor(str(cpuinfo))
    assert found["model"] == "Some CPU 9000"
    assert found["features"] == ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni"]
    assert found["environment"]["TF_ENABLE_ONEDNN_OPTS"] == "0" and "XLA_FLAGS" not in found["environment"]
    assert provenance.processor(str(tmp_path / "absent"))["features"] == []
    assert provenance.provenance()["processor"]["machine"] == found["machine"]


def test_a_resumed_run_names_the_code_of_each_part(tmp_path):
    """Each training process records its first step and code; resuming from a step drops the records of
    the steps it trains again, and an unreadable record is refused, not overwritten."""
    from benchmarks import run_dir

    for step, commit in ((0, "a"), (500, "b"), (800, "c")):
        run_dir.record_segment(str(tmp_path), step, {"commit": commit})
    segments = run_dir.record_segment(str(tmp_path), 600, {"commit": "d"})  # c's steps from 800 were lost
    assert segments == [{"from_step": 0, "commit": "a"}, {"from_step": 500, "commit": "b"},
                        {"from_step": 600, "commit": "d"}]
    assert run_dir.record_segment(str(tmp_path), 0, {"commit": "e"}) == [{"from_step": 0, "commit": "e"}]
    (tmp_path / run_dir.SEGMENTS_FILE).write_text("[{")
    with pytest.raises(run_dir.RunProblem, match="cannot be read"):
        run_dir.record_segment(str(tmp_path), 10, {"commit": "f"})
    assert (tmp_path / run_dir.SEGMENTS_FILE).read_text() == "[{"
