"""The null floor: real scorings of an untrained encoder and of codes independent of the melodies."""
import json

import numpy as np
import pytest

from benchmarks import null_floor as null_floor_command
from benchmarks.evaluation import null_floor

SMALL = ["mig.num_train = 300", "sap_score.num_train = 300", "sap_score.num_test = 100"]


def test_null_floor_scores_every_source_per_seed_and_is_deterministic(tmp_path):
    found = null_floor.null_floor([0, 1], ["mig", "sap_score"], gin_bindings=SMALL, progress=lambda _: None)
    assert set(found["scores"]) == set(null_floor.SOURCES)
    for source, by_score in found["scores"].items():
        assert set(by_score) == {"mig/discrete_mig", "sap_score/SAP_score"}
        assert all(len(values) == 2 for values in by_score.values())
        assert max(by_score["mig/discrete_mig"]) < 0.1, source  # nothing learned: no mutual information gap
    again = null_floor.null_floor([0, 1], ["mig", "sap_score"], gin_bindings=SMALL, progress=lambda _: None)
    assert again["scores"] == found["scores"]
    assert found["provenance"]["packages"]["numpy"] == np.__version__


def test_untrained_encoders_differ_by_seed_and_independent_codes_ignore_the_melodies():
    first, second = (null_floor.untrained_encoder("cnn", seed).get_weights()[0] for seed in (0, 1))
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(first, null_floor.untrained_encoder("cnn", 0).get_weights()[0])
    codes = null_floor.independent_codes(0)
    assert codes(np.zeros((5, 16), int)).shape == (5, null_floor.LATENT_DIM)
    with pytest.raises(ValueError, match="unknown null-floor source 'trained'"):
        null_floor.representation("trained", 0)


def test_the_command_writes_its_file_and_refuses_bad_arguments(tmp_path, capsys):
    assert null_floor_command.main([f"--out={tmp_path}", "--seeds=0", "--metrics=mig", "--sources=independent_codes",
                            "--gin_bindings=mig.num_train = 300"]) == 0
    scores = null_floor.read_null_floor(str(tmp_path / "null_floor.json"))
    assert list(scores) == ["independent_codes"] and len(scores["independent_codes"]["mig/discrete_mig"]) == 1
    assert null_floor_command.main([f"--out={tmp_path}", "--sources=nothing"]) == 2
    assert "unknown source(s) nothing" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text(json.dumps({"scores": {"x": {"mig": "high"}}}))
    with pytest.raises(ValueError, match="is not a null floor"):
        null_floor.read_null_floor(str(tmp_path / "bad.json"))
