"""``python -m dmelodies_tfds``: each subcommand, and every bad-input path ending in one line and exit 2."""
import argparse
import os
import re
import subprocess
import sys
import zipfile

import music21
import numpy as np
import pytest

import dmelodies_tfds as d
from dmelodies_tfds import music
from dmelodies_tfds.__main__ import main, make_parser, select

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_show_by_index_prints_factors_and_token_names(capsys):
    code, out, _ = run(capsys, "show", "--index", 0, 884613)
    assert code == 0
    assert out.splitlines() == [
        "melody 0: tonic=C octave=4 scale=major rhythm_bar1=11111100 rhythm_bar2=11111100 "
        "arp_chord1=up arp_chord2=up arp_chord3=up arp_chord4=up",
        "  C4 E4 G4 F4 A4 C5 rest rest | G4 B4 D5 C4 E4 G4 rest rest",
        "melody 884613: tonic=G octave=6 scale=minor rhythm_bar1=11001111 rhythm_bar2=10111101 "
        "arp_chord1=up arp_chord2=down arp_chord3=up arp_chord4=down",
        "  G6 B-6 rest rest D7 G7 E-7 C7 | D7 rest F#7 A7 D7 B-6 rest G6",
    ]


def test_show_by_factor_values_counts_matches_and_respects_the_limit(capsys):
    code, out, _ = run(capsys, "show", "--factor", "tonic=G", "--factor", "scale=minor", "--factor", "octave=6",
                       "--limit", 2)
    lines = out.splitlines()
    assert code == 0 and lines[0] == "12,544 melodies match; showing 2"
    assert lines[1].startswith("melody 878080: tonic=G octave=6 scale=minor ")
    assert lines[-1].startswith("... and 12,542 more")


def test_select_by_factors_is_every_melody_with_those_values():
    chosen = select(factor_specs=["tonic=G#", "arp_chord4=down", "rhythm_bar2=3"])
    labels = d.index_to_factors(chosen)
    assert len(chosen) == d.NUM_EXAMPLES // (12 * 2 * 28)
    assert np.all(labels[:, 0] == 8) and np.all(labels[:, 8] == 1) and np.all(labels[:, 4] == 3)
    assert np.all(np.diff(chosen) > 0)


@pytest.mark.parametrize("file_format, extension", [("midi", ".mid"), ("musicxml", ".musicxml")])
def test_export_by_index_writes_files_that_parse_back(capsys, tmp_path, file_format, extension):
    out_dir = tmp_path / "out"  # created by the command
    code, out, _ = run(capsys, "export", "--index", 0, 884613, "--format", file_format, "--out", out_dir)
    assert code == 0
    for index in (0, 884613):
        path = out_dir / f"dmelodies_{index:07d}{extension}"
        assert f"wrote {path}" in out
        tokens = music.tokens_from_music21(music21.converter.parse(path))
        assert tokens.tolist() == d.generate_tokens(index)[0].tolist()


def test_export_by_factor_values(capsys, tmp_path):
    specs = ["tonic=A#", "octave=5", "scale=blues", "rhythm_bar1=0", "rhythm_bar2=27", "arp_chord1=down",
             "arp_chord2=up", "arp_chord3=down"]
    code, _, _ = run(capsys, "export", *[a for s in specs for a in ("--factor", s)], "--out", tmp_path)
    assert code == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    expected = [f"dmelodies_{i:07d}.mid" for i in select(factor_specs=specs)]
    assert len(written) == 2 and written == expected


def test_export_refuses_existing_files_before_writing_any(capsys, tmp_path):
    (tmp_path / "dmelodies_0000005.mid").write_bytes(b"keep")
    code, _, err = run(capsys, "export", "--index", 0, 5, "--out", tmp_path)
    assert code == 2 and "dmelodies_0000005.mid already exists" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dmelodies_0000005.mid"]
    assert run(capsys, "export", "--index", 0, 5, "--out", tmp_path, "--overwrite")[0] == 0
    assert (tmp_path / "dmelodies_0000005.mid").read_bytes() != b"keep"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["show", "--factor", "tonic=H"], "error: unknown value 'H' for factor 'tonic'; allowed: C, C#"),
        (["show", "--factor", "colour=red"], "error: unknown factor 'colour'; factors are tonic, octave"),
        (["show", "--factor", "octave=0"], "error: unknown value '0' for factor 'octave'"),
        (["show", "--factor", "tonic"], "error: --factor 'tonic': expected KEY=VALUE"),
        (["show", "--factor", "tonic=C", "--factor", "tonic=D"], "error: factor 'tonic' is given twice"),
        (["show", "--index", "1354752"], "error: index 1354752 is out of range: dMelodies indices are 0..1354751"),
        (["show", "--index", "-1"], "error: index -1 is out of range"),
        (["show", "--index", "99999999999999999999999"],  # past int64: named as given, not an OverflowError
         "error: index 99999999999999999999999 is out of range: dMelodies indices are 0..1354751"),
        (["export", "--index", "0", str(2**64 + 5), "--out", "{tmp}"], f"error: index {2**64 + 5} is out of range"),
        (["show"], "error: choose melodies with --index"),
        (["show", "--index", "0", "--limit", "0"], "error: --limit must be at least 1"),
        (["export", "--factor", "tonic=C", "--out", "{tmp}"], "error: the selection has 112,896 melodies, more than --limit 100"),
        (["export", "--index", "2000000", "--out", "{tmp}"], "error: index 2000000 is out of range"),
        (["export-npz", "{tmp}/missing/x.npz"], "error: output folder {tmp}/missing does not exist"),
        (["export-npz", "{tmp}/exists.npz"], "error: output path {tmp}/exists.npz already exists"),
        (["verify-npz", "{tmp}/absent.npz", "--trust"], "error: no such file: {tmp}/absent.npz"),
        (["verify-npz", "{tmp}", "--trust"], "error: {tmp} is a folder, not a .npz file"),
        (["verify-npz", "{tmp}/exists.npz"], "error: refusing to load {tmp}/exists.npz: a release .npz holds pickled"),
        (["verify-npz", "{tmp}/exists.npz", "--trust"], "error: {tmp}/exists.npz: not a .npz file"),
        (["demo", "--out", "{tmp}", "--data_dir", "{tmp}/tfds"],
         "error: output path {tmp}/dmelodies_0000000.mid already exists; pass --overwrite to replace it"),
        (["export", "--index", "0", "--out", "{tmp}"],
         "error: output path {tmp}/dmelodies_0000000.mid already exists; pass --overwrite to replace it"),
        (["export-npz", "{tmp}/exists.npz"], "error: output path {tmp}/exists.npz already exists; pass --overwrite to"),
        (["export", "--index", "0", "--out", "{tmp}/exists.npz"], "error: --out {tmp}/exists.npz is a file, not a folder"),
        (["demo", "--out", "{tmp}/exists.npz"], "error: --out {tmp}/exists.npz is a file, not a folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, message):
    (tmp_path / "exists.npz").write_bytes(b"not a zip")
    (tmp_path / "dmelodies_0000000.mid").write_bytes(b"not a midi")
    code, out, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == 2
    assert err.startswith(message.format(tmp=tmp_path)) and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dmelodies_0000000.mid", "exists.npz"]  # nothing written


@pytest.mark.parametrize("argv", [["show", "--index", "0", "--factor", "tonic=C"], ["export", "--index", "0"],
                                  ["show", "--index", "zero"], ["nonsense"], []])
def test_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and "usage:" in capsys.readouterr().err


def test_export_npz_then_verify_npz(capsys, tmp_path):
    path = tmp_path / "dMelodies_dataset.npz"
    code, out, _ = run(capsys, "export-npz", path)
    assert code == 0 and out.startswith(f"wrote {path} (")
    try:
        code, out, _ = run(capsys, "verify-npz", path, "--trust")
        assert code == 0
        assert "OK, 1,354,752 melodies and their labels match" in out and "token order project" in out
    finally:
        path.unlink()


def test_build_tiny(capsys, tmp_path):
    code, out, _ = run(capsys, "build", "--config", "tiny", "--data_dir", tmp_path)
    assert code == 0
    assert out.splitlines()[-1] == (
        f"dmelodies/tiny/1.0.0 in {tmp_path}/dmelodies/tiny/1.0.0: train 7,000, validation 2,000, test 1,000 examples"
    )


def test_demo_builds_tiny_summarises_and_exports_melody_0(capsys, tmp_path):
    out_dir, data_dir = tmp_path / "out", tmp_path / "tfds"
    code, out, _ = run(capsys, "demo", "--out", out_dir, "--data_dir", data_dir)
    assert code == 0
    assert "train 7,000, validation 2,000, test 1,000 examples" in out
    first = d.split_indices("train")[0]  # the first train record, read back through TFDS
    assert f"first train example, melody {first}: tonic=" in out
    assert "  C4 E4 G4 F4 A4 C5 rest rest | G4 B4 D5 C4 E4 G4 rest rest" in out
    midi = out_dir / "dmelodies_0000000.mid"
    assert out.splitlines()[-1] == f"wrote {midi}"
    assert music.tokens_from_music21(music21.converter.parse(midi)).tolist() == d.generate_tokens(0)[0].tolist()
    # Run again: the existing build is reused, and --overwrite replaces the MIDI file.
    assert run(capsys, "demo", "--out", out_dir, "--data_dir", data_dir, "--overwrite")[0] == 0


def test_python_dash_m_entry_point(tmp_path):
    """The real command line (one run: it imports TensorFlow): a bad value is one line on stderr, exit 2."""
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    bad = subprocess.run([sys.executable, "-m", "dmelodies_tfds", "show", "--factor", "scale=dorian"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == "" and "Traceback" not in bad.stderr
    assert bad.stderr.splitlines()[-1].startswith("error: unknown value 'dorian' for factor 'scale'")


def test_export_writes_a_repeated_index_once(capsys, tmp_path):
    """`--index 5 5` used to write melody 5, then refuse it as already existing."""
    code, out, err = run(capsys, "export", "--index", 5, 0, 5, "--out", tmp_path)
    assert code == 0 and err == ""
    assert out.splitlines() == [f"wrote {tmp_path / 'dmelodies_0000005.mid'}", f"wrote {tmp_path / 'dmelodies_0000000.mid'}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dmelodies_0000000.mid", "dmelodies_0000005.mid"]


def test_a_second_run_into_the_same_folder_is_refused_in_the_apis_words(capsys, tmp_path):
    """The command line names --overwrite where the Python API names overwrite=True; same words otherwise."""
    assert run(capsys, "export", "--index", 3, "--out", tmp_path)[0] == 0
    code, _, err = run(capsys, "export", "--index", 3, "--out", tmp_path)
    path = tmp_path / "dmelodies_0000003.mid"
    assert code == 2 and err == f"error: output path {path} already exists; pass --overwrite to replace it\n"
    with pytest.raises(FileExistsError) as refused:
        music.write_midi(d.generate_tokens(3)[0], path)
    assert str(refused.value) == f"output path {path} already exists; pass overwrite=True to replace it"


def _npz(path, **arrays):
    with open(path, "wb") as file:
        np.savez(file, **arrays)
    return path


def test_verify_npz_names_a_member_that_is_not_npy_and_metadata_without_names(capsys, tmp_path):
    from dmelodies_tfds import release

    arrays = {"score_array": d.generate_tokens([0, 1]), "latent_array": d.index_to_factors([0, 1]),
              **release.release_dicts("2020-10-12")}
    good = _npz(tmp_path / "good.npz", **arrays)
    raw = tmp_path / "raw.npz"  # metadata stored as a plain file, not metadata.npy
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(raw, "w") as target:
        for name in source.namelist():
            target.writestr(name.replace("metadata.npy", "metadata"), source.read(name))
    code, _, err = run(capsys, "verify-npz", raw, "--trust")
    assert code == 2 and err.startswith(f"error: {raw}: member 'metadata' is not a .npy array") and err.count("\n") == 1

    metadata = arrays["metadata"].item()
    metadata["latents_names"] = None
    arrays["metadata"] = np.empty((), dtype=object)
    arrays["metadata"][()] = metadata
    none = _npz(tmp_path / "none.npz", **arrays)
    code, _, err = run(capsys, "verify-npz", none, "--trust")
    assert code == 2 and err.startswith(f"error: {none}: metadata latents_names is None, expected ('tonic', ")


def _parsers(parser):
    """The parser and every subcommand's parser."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_help_is_plain_text_and_shows_every_default():
    parser = make_parser()
    for sub in _parsers(parser):
        text = sub.format_help()
        assert "``" not in text and ":func:" not in text and ":mod:" not in text, sub.prog
        for action in sub._actions:
            if action.default not in (None, False, argparse.SUPPRESS) and action.option_strings:
                assert f"(default: {action.default})" in " ".join(text.split()), (sub.prog, action.dest)
    assert "(default: full)" in " ".join(_parsers_by_prog(parser)["python -m dmelodies_tfds build"].format_help().split())


def _parsers_by_prog(parser):
    return {sub.prog: sub for sub in _parsers(parser)}


def test_what_the_readme_commands_write_into_the_checkout_is_gitignored():
    """The README's dataset and quickstart commands write into the current folder: keep it out of git."""
    if subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=REPO, capture_output=True).returncode:
        pytest.skip("not a git checkout")
    readme = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    commands = " ".join(line for line in readme.replace("\\\n", " ").splitlines()
                        if "python -m dmelodies_tfds" in line or "python -m benchmarks.quickstart" in line)
    outputs = set(re.findall(r"--out[= ](\S+)", commands)) | set(re.findall(r"export-npz (\S+)", commands))
    outputs |= {"runs/cnn_beta_vae/beta=4/seed=0/encoder.keras", "runs/report/results.csv"}  # --root=runs
    assert {"demo_out", "melodies/", "dMelodies_dataset.npz"} <= outputs
    paths = [os.path.join(output, "file") if output.endswith("/") or "." not in output else output for output in outputs]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=REPO, capture_output=True, text=True)
    assert sorted(ignored.stdout.split()) == sorted(paths)
