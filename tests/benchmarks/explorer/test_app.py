"""The latent explorer (benchmarks/explorer/app.py, benchmarks/explore.py), driven in headless Chromium through Playwright.

The run explored is the tiny fixture's networks with known answers: the encoder's dimensions 0 and 1
are scaled up so that they are the active ones, and the decoder's weights are set so that it decodes
the start melody A near A's posterior mean, A one octave up (B) past a point on dimension 0, and past a
point on dimension 1 A with its first note held over slot 1 and repeated in slot 2 (not a dMelodies
melody). What the page must show after each slider move is therefore known exactly, besides being
compared with what the Python API decodes for the page's code.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request

import keras
import music21
import numpy as np
import pytest

import dmelodies_tfds as d
from benchmarks import explore as explore_command
from benchmarks.explorer import app as explore
from benchmarks.evaluation.representation import greedy_decoder, load_decoder, posterior_mean
from dmelodies_tfds import plotting

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
# A: D4 harmonic minor, rhythms 11110110 / 11111100, arpeggios up down up up; B: the same an octave up.
A_LABELS = [2, 0, 1, 3, 0, 0, 1, 0, 0]
B_LABELS = [2, 1, 1, 3, 0, 0, 1, 0, 0]
A_TOKENS, B_TOKENS = d.generate_tokens(d.factors_to_index([A_LABELS, B_LABELS]))
HELD = A_TOKENS.copy()
HELD[1:3] = [d.names_to_tokens("__"), A_TOKENS[0]]  # D4 held for two eighths, then D4 again


def _one_hot(tokens):
    return np.eye(d.VOCABULARY_SIZE, dtype=np.float32)[tokens].ravel()


def write_known_run(tiny_model_dir: str, model_dir: str) -> None:
    """encoder.keras, decoder.keras, results.json and metrics/mig.json: the run the module docstring describes."""
    encoder = keras.saving.load_model(os.path.join(tiny_model_dir, "encoder.keras"))
    z_mean = encoder.get_layer("z_mean")
    kernel, bias = z_mean.get_weights()
    kernel[:, :2] *= 20.0  # dimensions 0 and 1 vary with the melody; the others barely do (inactive)
    z_mean.set_weights([kernel, bias])
    start = posterior_mean(encoder)(A_TOKENS[None])[0]
    assert np.all(start[:2] < 2.5), "A's code must lie well inside the sliders (which reach at least 3)"

    decoder = keras.saving.load_model(os.path.join(tiny_model_dir, "decoder.keras"))
    dense = next(layer for layer in decoder.layers if isinstance(layer, keras.layers.Dense))
    # logits = 10·A + Σ_j (10·(z_j − p_j) + 5)·(X_j − A), X_0 = B, X_1 = HELD: A below p_j, X_j above.
    kernel = np.zeros_like(dense.get_weights()[0])
    bias = 10.0 * _one_hot(A_TOKENS)
    for j, target in enumerate([B_TOKENS, HELD]):
        switch = (start[j] + 3.0) / 2
        difference = _one_hot(target) - _one_hot(A_TOKENS)
        kernel[j] = 10.0 * difference
        bias += (5.0 - 10.0 * switch) * difference
    dense.set_weights([kernel, bias])

    os.makedirs(os.path.join(model_dir, "metrics"))
    encoder.save(os.path.join(model_dir, "encoder.keras"))
    decoder.save(os.path.join(model_dir, "decoder.keras"))
    results = {"method": "beta_vae", "architecture": "tiny", "hyperparameter_name": "beta",
               "hyperparameter_value": 1.0, "seed": 0, "test_reconstruction_accuracy": 0.5,
               "test_metrics": {"kl": 1.5}}
    with open(os.path.join(model_dir, "results.json"), "w", encoding="utf-8") as file:
        json.dump(results, file)
    with open(os.path.join(model_dir, "metrics", "mig.json"), "w", encoding="utf-8") as file:
        json.dump({"name": "mig", "scores": {"mig": {"discrete_mig": 0.25}}}, file)


@pytest.fixture(scope="module")
def known_run(tmp_path_factory, tiny_model_dir) -> str:
    model_dir = str(tmp_path_factory.mktemp("explore") / "run")
    write_known_run(tiny_model_dir, model_dir)
    return model_dir


@pytest.fixture(scope="module")
def page_url(known_run):
    with explore.running(explore.Explorer(known_run)) as url:
        yield url


@pytest.fixture
def browser():
    """Debian's chromium through Playwright; skipped only where chromium is absent, never in CI."""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is not installed: apt-get install -y chromium (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _post(url: str, body) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _roll_notes(page, roll: str) -> list[tuple[int, int, int, str]]:
    return page.eval_on_selector_all(
        f"{roll} rect.note",
        "rects => rects.map(r => [+r.dataset.onset, +r.dataset.length, +r.dataset.midi, r.dataset.name])")


def _expected_notes(tokens) -> list[tuple[int, int, int, str]]:
    return [[n.onset, n.length, n.midi, n.name] for n in plotting.note_events(tokens)]


def _move_slider_to_end(page, dimension: int) -> list[float]:
    before = page.get_attribute("#decoded", "data-code")
    page.focus(f"input[type=range][data-dimension='{dimension}']")
    page.keyboard.press("End")
    page.wait_for_function("before => { const s = document.querySelector('#decoded');"
                           " return !s.hasAttribute('data-busy') && s.dataset.code !== before; }", arg=before)
    return json.loads(page.get_attribute("#decoded", "data-code"))


def _read_back_rows(page) -> list[tuple[str, str, str, bool]]:
    return page.eval_on_selector_all(
        "#read-back tbody tr", "rows => rows.map(r => [r.dataset.factor, r.cells[1].textContent, "
                               "r.cells[2].textContent, r.classList.contains('changed')])")


@pytest.mark.integration
def test_the_page_explores_the_run_in_a_real_browser(browser, page_url, known_run, tmp_path):
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    console_errors = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    page.goto(page_url)
    page.wait_for_selector("#start[data-index='0']")
    assert page.is_hidden("#error")

    # The side panel: results.json and metrics/ of the run.
    assert "beta_vae" in page.inner_text("#run-results") and "test_metrics/kl" in page.inner_text("#run-results")
    assert "mig/discrete_mig" in page.inner_text("#run-scores") and "0.2500" in page.inner_text("#run-scores")
    # Sliders: the two active dimensions, most informative first; the other 30 collapsed.
    active = page.eval_on_selector_all("#active-sliders .slider", "rows => rows.map(r => +r.dataset.dimension)")
    assert sorted(active) == [0, 1]
    assert page.eval_on_selector_all("#inactive-sliders .slider", "rows => rows.length") == 30
    assert not page.is_visible("#inactive-sliders input[data-dimension='5']")

    # Pick melody A by its factor values; the index follows.
    factors = {f.key: f for f in d.FACTORS}
    for key, label in zip(d.FACTOR_KEYS, A_LABELS):
        if label != 0:
            page.select_option(f"#factor-{key}", label=factors[key].values[label])
    index = int(d.factors_to_index(A_LABELS)[0])
    page.wait_for_selector(f"#start[data-index='{index}']")
    page.wait_for_selector("#decoded:not([data-busy])")
    assert page.input_value("#melody-index") == str(index)
    assert json.loads(page.get_attribute("#start", "data-tokens")) == A_TOKENS.tolist()
    assert _roll_notes(page, "#start-roll") == _expected_notes(A_TOKENS)
    assert _roll_notes(page, "#decoded-roll") == _expected_notes(A_TOKENS)
    assert not any(changed for *_, changed in _read_back_rows(page))
    start_code = json.loads(page.get_attribute("#decoded", "data-code"))
    np.testing.assert_array_equal(np.float32(start_code), posterior_mean(
        keras.saving.load_model(os.path.join(known_run, "encoder.keras")))(A_TOKENS[None])[0])

    # Move dimension 0 to its end: the page shows what the Python API decodes for the page's code, B.
    decode = greedy_decoder(load_decoder(known_run))
    code = _move_slider_to_end(page, 0)
    assert code[0] > start_code[0] and code[1:] == start_code[1:]
    tokens = json.loads(page.get_attribute("#decoded", "data-tokens"))
    assert tokens == decode(np.float32([code]))[0].tolist() == B_TOKENS.tolist()
    assert _roll_notes(page, "#decoded-roll") == _expected_notes(B_TOKENS)
    assert json.loads(page.get_attribute("#decoded", "data-read-back")) == d.factors_from_tokens(B_TOKENS)[0].tolist()
    rows = _read_back_rows(page)
    assert [key for key, *_, changed in rows if changed] == ["octave"]
    assert rows[1] == ["octave", "4", "5", True]
    assert page.eval_on_selector_all("#decoded-roll rect.reference", "rects => rects.length") == 12

    # Play both melodies and a traversal, with WebAudio.
    page.click("#play-start")
    page.wait_for_function("document.body.dataset.playing === 'start'")
    assert page.inner_text("#status") == "playing the start melody: 12 notes"
    page.click("#play-decoded")
    assert page.get_attribute("body", "data-playing") == "decoded"
    page.click("#active-sliders .slider[data-dimension='0'] button.traverse")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('traversal of z0: step 1 of 5')")
    page.click("#stop")
    assert json.loads(page.get_attribute("#decoded", "data-tokens")) == B_TOKENS.tolist()  # back where it was

    # Download the decoded melody's MIDI and read it back with music21.
    with page.expect_download() as download:
        page.click("#download-midi")
    midi_path = tmp_path / "decoded_melody.mid"
    download.value.save_as(midi_path)
    assert download.value.suggested_filename == "decoded_melody.mid"
    assert d.tokens_from_music21(music21.converter.parse(str(midi_path))).tolist() == B_TOKENS.tolist()

    # Back to the posterior mean; dimension 1 decodes HELD: not a dMelodies melody, said in words, and a
    # held note drawn as one bar across two slots, apart from the same pitch repeated after it.
    page.click("#reset-code")
    page.wait_for_function("tokens => document.querySelector('#decoded').dataset.tokens === tokens",
                           arg=json.dumps(A_TOKENS.tolist(), separators=(",", ":")))
    code = _move_slider_to_end(page, 1)
    assert json.loads(page.get_attribute("#decoded", "data-tokens")) == decode(np.float32([code]))[0].tolist() \
        == HELD.tolist()
    rows = _read_back_rows(page)
    assert [key for key, *_, changed in rows if not changed] == ["rhythm_bar2"]
    assert all(value == "not a dMelodies melody" for key, _, value, _ in rows if key != "rhythm_bar2")
    assert page.inner_text("#read-back-text") == \
        f"Read back: {d.describe_read_back(d.factors_from_tokens(HELD)[0])}."
    assert _roll_notes(page, "#decoded-roll") == _expected_notes(HELD)
    held, repeated = page.eval_on_selector_all(
        "#decoded-roll rect.note",
        "rects => rects.slice(0, 2).map(r => [+r.getAttribute('x'), +r.getAttribute('width')])")
    assert held[0] + held[1] < repeated[0] and held[1] > 1.5 * repeated[1]
    page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)
    assert (tmp_path / "explorer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert console_errors == []

    # A bad value typed into the page: the server's message in the page, no traceback.
    page.fill("#melody-index", str(d.NUM_EXAMPLES))
    page.press("#melody-index", "Enter")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == \
        f"index {d.NUM_EXAMPLES} is out of range: dMelodies indices are 0..{d.NUM_EXAMPLES - 1}"
    page.close()


def test_the_api_refuses_bad_values_with_a_message(page_url):
    code = [0.0] * 32
    for body, message in [
        ({"code": [0.0] * 3}, "a code has 32 values, one per latent dimension, got shape (3,)"),
        ({"code": [1e6] + code[1:]}, "latent dimension 0 = 1e+06 is out of range: it accepts"),
        ({"code": "x"}, "code: Input should be a valid list"),
    ]:
        status, answer = _post(page_url + "api/decode", body)
        assert status == 400 and answer["error"].startswith(message)
    status, answer = _post(page_url + "api/traversal", {"code": code, "dimension": 32})
    assert status == 400 and answer["error"] == "dimension 32 does not exist: the code has dimensions 0..31"
    status, answer = _post(page_url + "api/midi", {"tokens": [99] * 16})
    assert status == 400 and answer["error"].startswith("token out of range: 99")
    for query, message in [("index=-1", "index -1 is out of range"), ("index=x", "index must be an integer, got 'x'"),
                           ("labels=0,3,0,0,0,0,0,0,0", "factor 'octave' has label 3; allowed labels are 0..2"),
                           ("labels=1,2", "a melody has 9 factor labels")]:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(page_url + "api/melody?" + query)
        assert refused.value.code == 400 and json.loads(refused.value.read())["error"].startswith(message)


def _status_with_host(url: str, host: str) -> int:
    request = urllib.request.Request(url + "api/model", headers={"Host": host})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_only_requests_addressed_to_this_machine_are_answered(page_url):
    """DNS rebinding: a page of another site whose name now points at 127.0.0.1 sends its own Host."""
    port = urllib.parse.urlsplit(page_url).port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
        assert _status_with_host(page_url, host) == 200, host
    for host in (f"attacker.example:{port}", "attacker.example", f"127.0.0.1.attacker.example:{port}"):
        assert _status_with_host(page_url, host) == 400, host


def test_hosts_answered_follow_the_address_listened_on():
    assert explore.allowed_hosts("127.0.0.1") == ["127.0.0.1", "localhost", "[::1]"]
    assert explore.allowed_hosts("::1") == ["127.0.0.1", "localhost", "[::1]"]
    assert explore.allowed_hosts("192.168.1.5")[-1] == "192.168.1.5"
    assert explore.allowed_hosts("fe80::1")[-1] == "[fe80::1]"
    assert explore.allowed_hosts("0.0.0.0") == ["*"] and explore.allowed_hosts("::") == ["*"]


def test_command_line_errors_are_one_line(tmp_path, tiny_model_dir, capsys):
    with pytest.raises(SystemExit, match=r"^error: model_dir \S*nowhere does not exist$"):
        explore_command.main(["--model_dir", str(tmp_path / "nowhere")])
    shutil.copy(os.path.join(tiny_model_dir, "encoder.keras"), tmp_path)
    with pytest.raises(SystemExit, match=r"^error: \S+ has no decoder.keras: python -m benchmarks.train writes it"):
        explore_command.main(["--model_dir", str(tmp_path)])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit, match=rf"^error: port {port} on 127.0.0.1 is busy: another program"):
            explore_command.main(["--model_dir", tiny_model_dir, "--port", str(port)])
    with pytest.raises(SystemExit):
        explore_command.main(["--model_dir", tiny_model_dir, "--port", "70000"])
    assert "--port 70000 is not a port" in capsys.readouterr().err
