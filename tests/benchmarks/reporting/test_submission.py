"""``python -m benchmarks.leaderboard verify``: a real tiny run is reproduced, an edited claim is named, and a
damaged or hostile folder is refused with one line before anything in it is deserialised or scored."""
from __future__ import annotations

import json
import os
import shutil
import zipfile

import pytest

from benchmarks import leaderboard as leaderboard_command
from benchmarks.reporting import submission
from helpers import tiny_run

SMALL = {"mig": ["mig.num_train = 300"], "sap_score": ["sap_score.num_train = 300", "sap_score.num_test = 200"]}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real run of a few steps, scored with MIG and SAP at small sizes (recorded in metrics/<name>.gin)."""
    root, data_dir = tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("tfds")
    return tiny_run(root, data_dir, "cnn_beta_vae/beta=4/seed=0", ["BetaVAE.beta = 4.0"], seed=0, metrics=SMALL)


@pytest.fixture
def copy(run, tmp_path):
    """A copy of the run to damage."""
    folder = tmp_path / "submission"
    shutil.copytree(run, folder)
    return folder


def _edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_a_real_run_is_reproduced(run, capsys):
    verdict = submission.verify(run)
    assert verdict.reproduced, verdict.mismatches
    assert [line.split(":")[0] for line in verdict.checked] == ["metrics/mig.json", "metrics/sap_score.json",
                                                               "results.json"]
    assert leaderboard_command.main(["verify", str(run)]) == 0
    assert capsys.readouterr().out.startswith("reproduced every claim (metrics/mig.json: 10 numbers;")
    assert sorted(os.listdir(os.path.join(run, "metrics"))) == ["mig.gin", "mig.json", "sap_score.gin",
                                                                "sap_score.json"]  # nothing written there


def test_edited_claims_are_each_named(copy, capsys):
    def better_accuracy(results):
        results["test_reconstruction_accuracy"] += 0.3
        results["test_metrics"]["reconstruction_accuracy"] += 0.3  # a careful edit: both places

    _edit_json(copy / "results.json", better_accuracy)
    _edit_json(copy / "metrics" / "mig.json", lambda m: m["scores"]["mig"].update(discrete_mig=0.5))
    assert leaderboard_command.main(["verify", str(copy)]) == 1
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("not reproduced:")]
    assert len(lines) == 2, lines
    assert lines[0].startswith("not reproduced: metrics/mig.json: mig/discrete_mig claims 0.5, re-scored ")
    assert lines[1].startswith("not reproduced: results.json: test_reconstruction_accuracy claims ")


def _truncate(path):
    path.write_bytes(path.read_bytes()[:5000])


def _extra_member(path):
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("../../evil.py", "import os")


def _huge(path):
    with open(path, "wb") as file:
        file.truncate(17 * 2**20)  # sparse: no disk used, and never read


HOSTILE = {
    "truncated .keras": ("encoder.keras", _truncate, "encoder.keras is not a complete .keras (zip) archive"),
    "bad JSON": ("metrics/mig.json", lambda p: p.write_text('{"name": "mig", "scores": '), "metrics/mig.json is not valid JSON"),
    "JSON that is not an object": ("metrics/sap_score.json", lambda p: p.write_text("[1, 2]"),
                                   "metrics/sap_score.json holds list, not an object"),
    "NaN in JSON": ("results.json", lambda p: p.write_text('{"seed": NaN}'), "results.json is not valid JSON"),
    "symlink": ("results.json", lambda p: (p.unlink(), p.symlink_to("/etc/passwd")),
                "results.json is a symbolic link: a submission holds plain files only"),
    "../ name": ("metrics/mig.json", lambda p: _edit_json(p, lambda m: m.update(name="../../etc/passwd")),
                 "metrics/mig.json names itself '../../etc/passwd', not 'mig'"),
    "../ in the archive": ("encoder.keras", _extra_member, "encoder.keras holds '../../evil.py'"),
    "huge file": ("sweep.log", _huge, "sweep.log is 17,825,792 bytes, over the 16,777,216 a run's file may be"),
    "unexpected file": ("model.pkl", lambda p: p.write_bytes(b"\x80\x04."), "model.pkl is not a file a run holds"),
    "gin import": ("metrics/mig.gin", lambda p: p.write_text("import os\nmig.num_train = 300\n"),
                   "metrics/mig.gin: line 1 is not a binding"),
    "gin binding outside the protocol": ("metrics/sap_score.gin", lambda p: p.write_text("train.epochs = 1\n"),
                                         "metrics/sap_score.gin binds train.epochs"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_damaged_or_hostile_folder_is_refused_with_one_line(case, copy, capsys):
    name, damage, reason = HOSTILE[case]
    damage(copy / name)
    assert leaderboard_command.main(["verify", str(copy)]) == 2
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith(f"refused: {reason}"), out


def test_a_linked_or_missing_folder_is_refused(copy, tmp_path):
    (tmp_path / "link").symlink_to(copy)
    with pytest.raises(submission.Refused, match="is a symbolic link: give the run folder itself"):
        submission.verify(str(tmp_path / "link"))
    os.remove(copy / "encoder.keras")
    with pytest.raises(submission.Refused, match="has no encoder.keras: not a finished run"):
        submission.inspect(str(copy))
