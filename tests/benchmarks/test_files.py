"""Atomic outputs of the benchmarks: a killed writer's temporary file is removed by the next writer."""
import os
import subprocess
import sys

from benchmarks.files import atomic_path, write_text

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Enters atomic_path, writes half a file, and waits to be killed (a model save cut short).
WRITER = """
import sys, time
from benchmarks.files import atomic_path
with atomic_path(sys.argv[1]) as temporary:
    with open(temporary, "w") as file:
        file.write("half a model")
    print("written", flush=True)
    time.sleep(600)
"""


def _writer(path):
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline() == "written\n"
    return process


def test_a_killed_writers_temporary_is_removed_next_time_in_the_same_folder(tmp_path):
    killed = _writer(tmp_path / "encoder.keras")
    killed.kill()
    killed.wait()
    assert os.listdir(tmp_path) == [f".tmp-{killed.pid}-encoder.keras"]  # what a killed model save leaves
    alive = _writer(tmp_path / "decoder.keras")  # the next writer removes it
    try:
        assert os.listdir(tmp_path) == [f".tmp-{alive.pid}-decoder.keras"]
        write_text(str(tmp_path / "results.json"), "{}\n")  # a live writer's temporary is never touched
        assert sorted(os.listdir(tmp_path)) == [f".tmp-{alive.pid}-decoder.keras", "results.json"]
    finally:
        alive.kill()
        alive.wait()


def test_other_hidden_files_are_kept(tmp_path):
    for name in (".tmp-notapid-x", ".tmp-1", ".hidden", ".tmp-x-123-y"):
        (tmp_path / name).write_text("keep")
    with atomic_path(str(tmp_path / "out.txt")) as temporary:
        with open(temporary, "w") as file:
            file.write("done")
    assert sorted(os.listdir(tmp_path)) == [".hidden", ".tmp-1", ".tmp-notapid-x", ".tmp-x-123-y", "out.txt"]
