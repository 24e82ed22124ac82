// The latent explorer's page (served by benchmarks/explore.py): plain JavaScript, SVG and WebAudio, no
// dependencies. Every melody comes from the server, already decoded, read back and cut into notes; the
// page only draws, plays and sends codes. A melody is 16 eighth-note slots in two 4/4 bars (protocol §2).
"use strict";

const SLOTS = 16;
const SLOTS_PER_BAR = 8;
const SLOT_SECONDS = 60 / 150 / 2; // an eighth note at 150 beats per minute
const TRAVERSAL_STEPS = 5;
const SVG = "http://www.w3.org/2000/svg";

const state = {
  model: null,    // GET /api/model
  melody: null,   // GET /api/melody: index, labels, start, code (the posterior mean), decoded
  code: null,     // the code the sliders hold now
  decoded: null,  // the decoded melody shown (a traversal shows others for a while)
  sending: false, // a decode request is on its way
  stale: false,   // the sliders moved while it was
  melodyRequests: 0,
  audio: null,
  sounding: [],   // oscillators scheduled, to stop them
  timers: [],
};

const $ = (selector) => document.querySelector(selector);

function element(tag, attributes = {}, text = null, namespace = null) {
  const node = namespace ? document.createElementNS(namespace, tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $("#error").hidden = true;
}

function setStatus(text) {
  $("#status").textContent = text;
}

// The JSON API: GET when there is no body. A refusal comes back as {"error": message}.
async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  let response;
  try {
    response = await fetch(path, options);
  } catch (failure) {
    throw new Error(`the explorer's server does not answer (${failure.message}): is it still running?`);
  }
  const type = response.headers.get("Content-Type") || "";
  if (!response.ok) {
    const payload = type.includes("json") ? await response.json() : {};
    throw new Error(payload.error || `the server answered ${response.status} ${response.statusText}`);
  }
  return type.includes("json") ? response.json() : response.blob();
}

// ---- piano rolls -------------------------------------------------------------------------------

const ROLL = {width: 620, labelWidth: 40, rightMargin: 8, rowHeight: 12, axisHeight: 14};
const slotWidth = () => (ROLL.width - ROLL.labelWidth - ROLL.rightMargin) / SLOTS;

// The pitches both rolls show: every note of both melodies, a semitone to spare, at least an octave.
function pitchRange(melodies) {
  const pitches = melodies.flatMap((melody) => melody.notes.map((note) => note.midi));
  if (pitches.length === 0) return [72, 84];
  let low = Math.min(...pitches) - 1;
  let high = Math.max(...pitches) + 1;
  while (high - low < 12) {
    high += 1;
    if (high - low < 12) low -= 1;
  }
  return [low, high];
}

function drawNotes(svg, notes, range, className, labelled) {
  const slot = slotWidth();
  const gap = state.model.gap;
  for (const note of notes) {
    const x = ROLL.labelWidth + (note.onset + gap / 2) * slot;
    const y = (range[1] - note.midi) * ROLL.rowHeight + 1;
    const rect = element("rect", {
      class: className, x, y, width: (note.length - gap) * slot, height: ROLL.rowHeight - 2, rx: 2,
      "data-onset": note.onset, "data-length": note.length, "data-midi": note.midi, "data-name": note.name,
    }, null, SVG);
    rect.appendChild(element("title", {}, `${note.name}, slot ${note.onset}, ${note.length} eighth(s)`, SVG));
    svg.appendChild(rect);
    if (labelled) {
      svg.appendChild(element("text", {class: "note-label", x: x + 3, y: y + ROLL.rowHeight / 2 - 1}, note.name, SVG));
    }
  }
}

// Like dmelodies_tfds.plotting.plot_piano_roll: a held note is one bar across its slots, a repeated
// note two bars with a gap; the bar line at slot 8; ``reference`` (the start melody) drawn behind.
function drawRoll(svg, melody, range, reference) {
  svg.replaceChildren();
  const rows = range[1] - range[0] + 1;
  const height = rows * ROLL.rowHeight + ROLL.axisHeight;
  const slot = slotWidth();
  svg.setAttribute("width", ROLL.width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${ROLL.width} ${height}`);
  for (let midi = range[1]; midi >= range[0]; midi -= 1) {
    const y = (range[1] - midi) * ROLL.rowHeight;
    if ([1, 3, 6, 8, 10].includes(midi % 12)) {
      svg.appendChild(element("rect", {
        class: "black-key", x: ROLL.labelWidth, y, width: ROLL.width - ROLL.labelWidth, height: ROLL.rowHeight}, null, SVG));
    }
    svg.appendChild(element("text", {class: "pitch-label", x: ROLL.labelWidth - 4, y: y + ROLL.rowHeight / 2},
                            state.model.pitch_names[midi], SVG));
  }
  for (let beat = 0; beat <= SLOTS; beat += 2) {
    const x = ROLL.labelWidth + beat * slot;
    const isBar = beat % SLOTS_PER_BAR === 0;
    svg.appendChild(element("line", {
      class: isBar ? "bar-line" : "beat", x1: x, x2: x, y1: 0, y2: rows * ROLL.rowHeight}, null, SVG));
    svg.appendChild(element("text", {class: "slot-label", x, y: height - 3}, String(beat), SVG));
  }
  if (reference) drawNotes(svg, reference.notes, range, "reference", false);
  drawNotes(svg, melody.notes, range, "note", true);
}

// ---- the melodies and their read-back -----------------------------------------------------------

function showDecoded(decoded, code) {
  const start = state.melody.start;
  const range = pitchRange([start, decoded]);
  drawRoll($("#start-roll"), start, range, null);
  drawRoll($("#decoded-roll"), decoded, range, start);
  const section = $("#decoded");
  section.dataset.code = JSON.stringify(code);
  section.dataset.tokens = JSON.stringify(decoded.tokens);
  section.dataset.readBack = JSON.stringify(decoded.read_back);
  const body = $("#read-back tbody");
  body.replaceChildren();
  state.model.factors.forEach((factor, k) => {
    const label = decoded.read_back[k];
    const row = element("tr", {"data-factor": factor.key});
    if (label !== state.melody.labels[k]) row.classList.add("changed");
    row.appendChild(element("td", {}, factor.key));
    row.appendChild(element("td", {}, factor.values[state.melody.labels[k]]));
    row.appendChild(element("td", label < 0 ? {class: "unknown"} : {}, decoded.read_back_names[k]));
    body.appendChild(row);
  });
  $("#read-back-text").textContent = `Read back: ${decoded.read_back_text}.`;
  state.decoded = decoded;
}

async function loadMelody(query) {
  stopPlaying();
  const request = ++state.melodyRequests;
  try {
    const melody = await api(`/api/melody?${new URLSearchParams(query)}`);
    if (request !== state.melodyRequests) return; // the user asked for another melody meanwhile
    clearError();
    state.melody = melody;
    state.code = melody.code.slice();
    $("#melody-index").value = melody.index;
    state.model.factors.forEach((factor, k) => { $(`#factor-${factor.key}`).value = String(melody.labels[k]); });
    showSliders();
    showDecoded(melody.decoded, state.code.slice());
    $("#start").dataset.index = melody.index;
    $("#start").dataset.tokens = JSON.stringify(melody.start.tokens);
    $("#decoded").removeAttribute("data-busy");
    setStatus(`melody ${melody.index}: ${Object.values(melody.description).join(" ")}`);
  } catch (failure) {
    showError(failure.message);
  }
}

// Sends the sliders' code; moves made while a request is out are sent together when it returns, so
// the page never waits on a queue of stale codes.
async function decode() {
  if (state.sending) {
    state.stale = true;
    return;
  }
  state.sending = true;
  $("#decoded").dataset.busy = "";
  const code = state.code.slice();
  const melody = state.melody;
  try {
    const decoded = await api("/api/decode", {code});
    clearError();
    if (state.melody === melody) showDecoded(decoded, code); // else a new start melody came meanwhile
  } catch (failure) {
    showError(failure.message);
  }
  state.sending = false;
  if (state.stale) {
    state.stale = false;
    decode();
  } else {
    $("#decoded").removeAttribute("data-busy");
  }
}

// ---- sliders --------------------------------------------------------------------------------------

function sliderFor(dimension) {
  return document.querySelector(`input[type=range][data-dimension="${dimension}"]`);
}

function buildSliders() {
  const active = $("#active-sliders");
  const inactive = $("#inactive-sliders");
  let inactiveCount = 0;
  for (const dim of state.model.dimensions) {
    const row = element("div", {class: "slider", "data-dimension": dim.dimension});
    row.appendChild(element("span", {class: "name"}, `z${dim.dimension}`));
    const input = element("input", {
      type: "range", min: dim.low, max: dim.high, step: (dim.high - dim.low) / 400,
      "data-dimension": dim.dimension, "aria-label": `latent dimension ${dim.dimension}`});
    input.addEventListener("input", () => {
      const value = Number(input.value);
      stopPlaying();
      state.code[dim.dimension] = value;
      showSliderValue(dim.dimension);
      decode();
    });
    row.appendChild(input);
    row.appendChild(element("output", {}, ""));
    const traverse = element("button", {
      type: "button", class: "traverse",
      title: `hear z${dim.dimension} traversed from ${dim.low.toFixed(1)} to ${dim.high.toFixed(1)}`}, "\u25B6");
    traverse.addEventListener("click", () => playTraversal(dim));
    row.appendChild(traverse);
    row.appendChild(element("span", {class: "kl"},
                            `KL ${dim.kl.toFixed(2)} nats, variance of the mean ${dim.variance.toFixed(3)}`));
    (dim.active ? active : inactive).appendChild(row);
    if (!dim.active) inactiveCount += 1;
  }
  $("#inactive").hidden = inactiveCount === 0;
  $("#inactive summary").textContent =
    `${inactiveCount} inactive dimension${inactiveCount === 1 ? "" : "s"} (posterior mean varies by less than 0.01)`;
  $("#latents-hint").textContent =
    `Most informative first (KL to the prior over ${state.model.statistics_melodies} melodies). ` +
    "Each slider starts at the start melody's posterior mean; \u25B6 plays a traversal of that dimension.";
}

function showSliderValue(dimension) {
  const input = sliderFor(dimension);
  const row = input.parentElement;
  row.querySelector("output").textContent = state.code[dimension].toFixed(2);
  row.classList.toggle("moved", state.code[dimension] !== state.melody.code[dimension]);
}

// Sliders at the code; a start beyond a slider's range widens it, so that every slider can show it.
function showSliders() {
  for (const dim of state.model.dimensions) {
    const input = sliderFor(dim.dimension);
    const value = state.code[dim.dimension];
    input.min = Math.min(dim.low, value);
    input.max = Math.max(dim.high, value);
    input.value = value;
    showSliderValue(dim.dimension);
  }
}

// ---- sound ----------------------------------------------------------------------------------------

function audioContext() {
  if (!state.audio) state.audio = new AudioContext();
  if (state.audio.state === "suspended") state.audio.resume();
  return state.audio;
}

// Schedules one melody from ``when`` (seconds on the audio clock): a triangle wave per note with a short
// attack and release, so that a repeated note is heard twice and a held one once. Returns its end.
function schedule(notes, when) {
  const audio = audioContext();
  for (const note of notes) {
    const begin = when + note.onset * SLOT_SECONDS;
    const end = begin + note.length * SLOT_SECONDS - 0.03;
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.type = "triangle";
    oscillator.frequency.value = 440 * 2 ** ((note.midi - 69) / 12);
    gain.gain.setValueAtTime(0, begin);
    gain.gain.linearRampToValueAtTime(0.3, begin + 0.01);
    gain.gain.setValueAtTime(0.3, end - 0.04);
    gain.gain.linearRampToValueAtTime(0, end);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(begin);
    oscillator.stop(end + 0.01);
    state.sounding.push(oscillator);
  }
  return when + SLOTS * SLOT_SECONDS;
}

function later(seconds, action) {
  state.timers.push(setTimeout(action, Math.max(0, seconds) * 1000));
}

function stopPlaying() {
  for (const oscillator of state.sounding) {
    try { oscillator.stop(); } catch (ignored) { /* already stopped */ }
  }
  state.sounding = [];
  state.timers.forEach(clearTimeout);
  state.timers = [];
  if (document.body.dataset.playing === "traversal") showSliders();
  if (document.body.dataset.playing === "traversal" && state.decoded) showDecoded(state.decoded, state.code.slice());
  delete document.body.dataset.playing;
}

function play(which) {
  stopPlaying();
  const melody = which === "start" ? state.melody.start : state.decoded;
  const audio = audioContext();
  const end = schedule(melody.notes, audio.currentTime + 0.05);
  document.body.dataset.playing = which;
  document.body.dataset.scheduledNotes = melody.notes.length;
  setStatus(`playing the ${which} melody: ${melody.notes.length} notes`);
  later(end - audio.currentTime, () => {
    delete document.body.dataset.playing;
    setStatus(`played the ${which} melody`);
  });
}

// Plays the decoded melodies along one dimension, from its slider's low end to its high end, moving
// the slider and the decoded roll with the sound; afterwards both return to where they were.
async function playTraversal(dim) {
  stopPlaying();
  let steps;
  try {
    steps = await api("/api/traversal", {code: state.code.slice(), dimension: dim.dimension, steps: TRAVERSAL_STEPS});
  } catch (failure) {
    showError(failure.message);
    return;
  }
  const audio = audioContext();
  const kept = state.decoded;
  let when = audio.currentTime + 0.05;
  document.body.dataset.playing = "traversal";
  document.body.dataset.scheduledNotes = steps.reduce((sum, step) => sum + step.decoded.notes.length, 0);
  steps.forEach((step, i) => {
    const code = state.code.slice();
    code[dim.dimension] = step.value;
    later(when - audio.currentTime, () => {
      sliderFor(dim.dimension).value = step.value;
      sliderFor(dim.dimension).parentElement.querySelector("output").textContent = step.value.toFixed(2);
      showDecoded(step.decoded, code);
      state.decoded = kept;
      setStatus(`traversal of z${dim.dimension}: step ${i + 1} of ${steps.length}, ` +
                `z${dim.dimension} = ${step.value.toFixed(2)}`);
    });
    when = schedule(step.decoded.notes, when) + 2 * SLOT_SECONDS;
  });
  later(when - audio.currentTime, () => { stopPlaying(); setStatus(`played the traversal of z${dim.dimension}`); });
}

// ---- MIDI -----------------------------------------------------------------------------------------

async function downloadMidi() {
  try {
    const title = `dMelodies ${state.melody.index}, decoded`;
    const blob = await api("/api/midi", {tokens: state.decoded.tokens, title});
    const link = element("a", {href: URL.createObjectURL(blob), download: "decoded_melody.mid"});
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    clearError();
  } catch (failure) {
    showError(failure.message);
  }
}

// ---- the run --------------------------------------------------------------------------------------

function formatValue(value) {
  if (typeof value !== "number" || Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(1) : value.toFixed(4);
}

function showRun(run) {
  const fill = (list, entries) => {
    for (const [key, value] of entries) {
      list.appendChild(element("dt", {}, key));
      list.appendChild(element("dd", {}, formatValue(value)));
    }
  };
  fill($("#run-results"), Object.entries(run.results));
  fill($("#run-scores"), Object.entries(run.scores));
  for (const problem of run.problems) $("#run-problems").appendChild(element("li", {}, problem));
}

// ---- start ----------------------------------------------------------------------------------------

function buildPicker() {
  const selects = $("#factor-selects");
  for (const factor of state.model.factors) {
    const label = element("label", {}, factor.key);
    const select = element("select", {id: `factor-${factor.key}`});
    factor.values.forEach((value, i) => select.appendChild(element("option", {value: String(i)}, value)));
    select.addEventListener("change", () => {
      const labels = state.model.factors.map((f) => $(`#factor-${f.key}`).value);
      loadMelody({labels: labels.join(",")});
    });
    label.appendChild(select);
    selects.appendChild(label);
  }
  const index = $("#melody-index");
  index.max = state.model.num_examples - 1;
  index.addEventListener("change", () => loadMelody({index: index.value}));
  $("#random-melody").addEventListener(
    "click", () => loadMelody({index: Math.floor(Math.random() * state.model.num_examples)}));
}

async function start() {
  window.addEventListener("error", (event) => showError(`the page failed: ${event.message}`));
  window.addEventListener("unhandledrejection", (event) => showError(`the page failed: ${event.reason}`));
  try {
    state.model = await api("/api/model");
  } catch (failure) {
    showError(failure.message);
    return;
  }
  $("#model-dir").textContent = state.model.model_dir;
  buildPicker();
  buildSliders();
  showRun(state.model.run);
  $("#play-start").addEventListener("click", () => play("start"));
  $("#play-decoded").addEventListener("click", () => play("decoded"));
  $("#download-midi").addEventListener("click", downloadMidi);
  $("#reset-code").addEventListener("click", () => {
    stopPlaying();
    state.code = state.melody.code.slice();
    showSliders();
    decode();
  });
  $("#stop").addEventListener("click", () => { stopPlaying(); setStatus("stopped"); });
  const index = new URLSearchParams(window.location.search).get("index");
  await loadMelody({index: index === null ? 0 : index});
}

start();
