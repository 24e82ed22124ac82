"""A local web page to see and hear what each latent dimension of a trained run does (protocol §6-7).

``python -m benchmarks.explore`` serves it (:func:`running` from Python). The page picks a start melody (its nine factor values, or its index), encodes it to its posterior mean
(:func:`benchmarks.evaluation.representation.posterior_mean`) and shows one slider per latent dimension, starting
there. Moving a slider decodes the code at once (:func:`~benchmarks.evaluation.representation.greedy_decoder`); the
decoded melody is drawn as a piano roll with :mod:`dmelodies_tfds.plotting`'s conventions, read back into
its nine factors (:func:`dmelodies_tfds.factors_from_tokens`), played in the browser and downloadable as
MIDI (:func:`dmelodies_tfds.music.midi_bytes`). A side panel shows the run's ``results.json`` and
``metrics/`` as :mod:`benchmarks.run_dir` reads them. The page is plain HTML, JavaScript, SVG and
WebAudio in ``static/``: no build step, no CDN; it works offline.

Sliders are ordered by each dimension's mean KL to the prior over a fixed sample of melodies: the
information the code spends on it. Dimensions that are inactive in Burda et al.'s sense (ICLR 2016: the
variance of the posterior mean over melodies is below 0.01) are collapsed. A slider spans the prior's
±3σ and the sample's posterior means; the server accepts codes up to one slider width beyond that, and
answers anything else (out-of-range or non-finite values, unknown melodies) with a 400 and a message.

The server answers only requests addressed to a loopback name (``Host: 127.0.0.1``, ``localhost``,
``[::1]``) unless ``--host`` names another address: a web page the user visits could otherwise point a
name of its own at 127.0.0.1 and read the explorer's answers (DNS rebinding). Any other ``Host`` gets a
400 from Starlette's ``TrustedHostMiddleware``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import ipaddress
import os
import socket
import threading
from typing import Sequence

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware
from pydantic import BaseModel, StrictInt

import dmelodies_tfds as d
from benchmarks import run_dir
from benchmarks.gin_config import plain_message
from benchmarks.objectives import kl_divergence
from benchmarks.evaluation.representation import greedy_decoder, inference_function, load_decoder, load_encoder, posterior_mean
from dmelodies_tfds import music, plotting
from dmelodies_tfds.factors import NOT_A_MELODY, check_indices, describe

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STATISTICS_MELODIES = 2048  # the fixed sample the dimensions are ranked on (seed 0)
ACTIVE_VARIANCE = 0.01  # Burda et al. (2016): a dimension is active when Var_x(E[z|x]) exceeds this
PRIOR_SPAN = 3.0  # every slider spans at least the prior's ±3σ
MAX_TRAVERSAL_STEPS = 17


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One latent dimension as the page shows it: its slider range and how informative it is."""

    dimension: int
    kl: float  # mean KL(q(z_j|x) ‖ N(0, 1)) over the sample, in nats
    variance: float  # variance of the posterior mean over the sample
    active: bool
    low: float  # the slider's range
    high: float

    @property
    def limits(self) -> tuple[float, float]:
        """What the server accepts: one slider width beyond each end."""
        width = self.high - self.low
        return self.low - width, self.high + width


def rank_dimensions(mean: np.ndarray, log_std: np.ndarray) -> list[Dimension]:
    """The dimensions of posterior means and log-stds (n, latent), most informative (largest KL) first."""
    kl = [float(kl_divergence(mean[:, j:j + 1], log_std[:, j:j + 1])) for j in range(mean.shape[1])]
    variance = mean.var(axis=0)
    low, high = np.minimum(-PRIOR_SPAN, mean.min(axis=0)), np.maximum(PRIOR_SPAN, mean.max(axis=0))
    order = np.argsort(-np.asarray(kl), kind="stable")
    return [Dimension(int(j), kl[j], float(variance[j]), bool(variance[j] > ACTIVE_VARIANCE), float(low[j]),
                      float(high[j])) for j in order]


def melody_view(tokens: np.ndarray) -> dict:
    """One melody as the page shows it: tokens, notes (onset, length in slots, MIDI pitch, name) and the
    nine factors read back from the tokens, ``-1`` named :data:`~dmelodies_tfds.factors.NOT_A_MELODY`."""
    labels = d.factors_from_tokens(tokens)[0]
    return {
        "tokens": [int(t) for t in tokens],
        "names": d.tokens_to_names(tokens).tolist(),
        "notes": [{**dataclasses.asdict(note), "name": note.name} for note in plotting.note_events(tokens)],
        "read_back": labels.tolist(),
        "read_back_names": [f.values[label] if label >= 0 else NOT_A_MELODY for f, label in zip(d.FACTORS, labels)],
        "read_back_text": d.describe_read_back(labels),
    }


def run_summary(model_dir: str) -> dict:
    """The run's configuration (``results.json``'s scalars, nested ones as ``group/key``) and its scores
    (every ``metrics/<name>.json``), read with :mod:`benchmarks.run_dir`'s checks; unusable files are
    named in ``problems``, never fatal."""
    summary = {"results": {}, "scores": {}, "problems": []}
    if not os.path.isfile(run_dir.results_path(model_dir)):
        summary["problems"].append("no results.json: the run's configuration is unknown")
    else:
        try:
            results = run_dir.read_results(model_dir)
        except run_dir.RunProblem as problem:
            summary["problems"].append(str(problem))
        else:
            for key, value in results.items():
                items = value.items() if isinstance(value, dict) else [(None, value)]
                for inner, scalar in items:
                    if isinstance(scalar, (str, int, float, bool)):
                        summary["results"][key if inner is None else f"{key}/{inner}"] = scalar
    metrics_dir = os.path.join(model_dir, run_dir.METRICS)
    names = sorted(f for f in os.listdir(metrics_dir) if f.endswith(".json")) if os.path.isdir(metrics_dir) else []
    for name in names:
        try:
            summary["scores"].update(run_dir.read_metrics(os.path.join(metrics_dir, name))[1])
        except run_dir.RunProblem as problem:
            summary["problems"].append(str(problem))
    if not names:
        summary["problems"].append("no metrics/: score the run with python -m benchmarks.evaluate")
    return summary


class Explorer:
    """A run's encoder and decoder behind the page's questions, answered as JSON-ready values.

    ``FileNotFoundError`` or ``ValueError`` name what is wrong with ``model_dir`` (missing, no decoder,
    damaged networks, encoder and decoder of different latent sizes); the methods answer bad requests
    with a ``ValueError`` naming the value.
    """

    def __init__(self, model_dir: str):
        encoder, decoder = load_encoder(model_dir), load_decoder(model_dir)
        self.model_dir = model_dir
        self.latent_dim = int(encoder.outputs[0].shape[-1])
        if tuple(decoder.inputs[0].shape[1:]) != (self.latent_dim,):
            raise ValueError(f"{model_dir}: the decoder reads codes of shape {tuple(decoder.inputs[0].shape[1:])}, "
                             f"the encoder writes ({self.latent_dim},): they are not from the same run")
        self.encode = posterior_mean(encoder)
        self.decode = greedy_decoder(decoder)
        indices = np.sort(np.random.default_rng(0).choice(d.NUM_EXAMPLES, STATISTICS_MELODIES, replace=False))
        mean, log_std = inference_function(encoder, (d.SEQUENCE_LENGTH,), "int32")(d.generate_tokens(indices))
        self.dimensions = rank_dimensions(mean, log_std)
        self._limits = np.array([dim.limits for dim in sorted(self.dimensions, key=lambda dim: dim.dimension)])

    def model(self) -> dict:
        """What the page needs once: factors, dimensions in slider order, pitch names, the run's summary."""
        return {
            "model_dir": os.path.abspath(self.model_dir),
            "latent_dim": self.latent_dim,
            "num_examples": d.NUM_EXAMPLES,
            "factors": [{"key": f.key, "values": list(f.values)} for f in d.FACTORS],
            "dimensions": [{**dataclasses.asdict(dim), "limits": list(dim.limits)} for dim in self.dimensions],
            "statistics_melodies": STATISTICS_MELODIES,
            "pitch_names": [plotting.note_label(midi) for midi in range(128)],
            "gap": plotting.GAP,
            "run": run_summary(self.model_dir),
        }

    def melody(self, index=None, labels=None) -> dict:
        """A start melody, by index or by its nine labels: its view, posterior mean and decoded view."""
        if (index is None) == (labels is None):
            raise ValueError("give a melody's index or its nine factor labels, not both or neither")
        if labels is not None and len(labels) != d.NUM_FACTORS:
            raise ValueError(f"a melody has {d.NUM_FACTORS} factor labels ({', '.join(d.FACTOR_KEYS)}), "
                             f"got {len(labels)}")
        index = int(check_indices([index])[0]) if labels is None else int(d.factors_to_index(labels)[0])
        tokens = d.generate_tokens([index])
        code = self.encode(tokens)
        return {"index": index, "labels": d.index_to_factors(index)[0].tolist(),
                "description": describe(d.index_to_factors(index)), "start": melody_view(tokens[0]),
                "code": code[0].tolist(), "decoded": melody_view(self.decode(code)[0])}

    def check_code(self, code) -> np.ndarray:
        """``code`` as a float32 (1, latent) array, or ``ValueError`` naming the first bad value."""
        code = np.asarray(code, dtype=np.float64)
        if code.shape != (self.latent_dim,):
            raise ValueError(f"a code has {self.latent_dim} values, one per latent dimension, got shape {code.shape}")
        low, high = self._limits[:, 0], self._limits[:, 1]
        bad = ~np.isfinite(code) | (code < low) | (code > high)
        if np.any(bad):
            j = int(np.flatnonzero(bad)[0])
            what = "is not a number" if np.isnan(code[j]) else "is out of range"
            raise ValueError(f"latent dimension {j} = {code[j]:g} {what}: it accepts {low[j]:.3g} to {high[j]:.3g}")
        return code.astype(np.float32)[None]

    def decoded(self, code) -> dict:
        """The view of the melody ``code`` decodes to."""
        return melody_view(self.decode(self.check_code(code))[0])

    def traversal(self, code, dimension: int, steps: int) -> list[dict]:
        """``steps`` values spanning ``dimension``'s slider, the rest of ``code`` kept: values and views."""
        code = self.check_code(code)
        if not 0 <= dimension < self.latent_dim:
            raise ValueError(f"dimension {dimension} does not exist: the code has dimensions 0..{self.latent_dim - 1}")
        if not 2 <= steps <= MAX_TRAVERSAL_STEPS:
            raise ValueError(f"a traversal has 2 to {MAX_TRAVERSAL_STEPS} steps, got {steps}")
        dim = next(dim for dim in self.dimensions if dim.dimension == dimension)
        values = np.linspace(dim.low, dim.high, steps, dtype=np.float32)
        codes = np.repeat(code, steps, axis=0)
        codes[:, dimension] = values
        return [{"value": float(v), "decoded": melody_view(t)} for v, t in zip(values, self.decode(codes))]


class Code(BaseModel):
    """A request to decode: one value per latent dimension."""

    code: list[float]


class Traversal(Code):
    """A request for the melodies along one dimension of ``code``."""

    dimension: StrictInt
    steps: StrictInt = 5


class Melody(BaseModel):
    """A request for one melody's MIDI file."""

    tokens: list[StrictInt]
    title: str | None = None


# The names a browser on this machine uses for a server listening on loopback.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def allowed_hosts(host: str) -> list[str]:
    """The ``Host`` names the server answers when listening on ``host``: the loopback names, plus ``host``
    itself when it is another address; any name when it listens on every address (0.0.0.0 or ::), where
    the names others reach it by cannot be known."""
    if host in ("0.0.0.0", "::", ""):
        return ["*"]
    if is_loopback(host):
        return list(LOOPBACK_HOSTS)
    return [*LOOPBACK_HOSTS, f"[{host}]" if ":" in host else host.lower()]


def create_app(explorer: Explorer, hosts: Sequence[str] = LOOPBACK_HOSTS) -> FastAPI:
    """The FastAPI application: the page, its files and the JSON API, answering requests addressed to one
    of ``hosts`` (:func:`allowed_hosts`). Errors answer ``{"error": message}``."""
    app = FastAPI(title="dMelodies latent explorer", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, error: ValueError):
        return JSONResponse({"error": plain_message(error)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError):
        problems = ["the request is not valid JSON" if e["type"] == "json_invalid" else
                    f"{'.'.join(str(part) for part in e['loc'][1:]) or 'request'}: {e['msg']}" for e in error.errors()]
        return JSONResponse({"error": "; ".join(problems)}, status_code=400)

    @app.exception_handler(Exception)
    async def failure(request: Request, error: Exception):  # uvicorn logs the traceback on the console
        return JSONResponse({"error": f"the server failed ({type(error).__name__}): see its console"},
                            status_code=500)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(os.path.join(STATIC_DIR, "index.html"))

    @app.get("/api/model")
    def model():
        return explorer.model()

    @app.get("/api/melody")
    def melody(index: str | None = None, labels: str | None = None):
        return explorer.melody(None if index is None else _integer(index, "index"),
                               None if labels is None else [_integer(v, "each label") for v in labels.split(",")])

    @app.post("/api/decode")
    def decode(request: Code):
        return explorer.decoded(request.code)

    @app.post("/api/traversal")
    def traversal(request: Traversal):
        return explorer.traversal(request.code, request.dimension, request.steps)

    @app.post("/api/midi")
    def midi(request: Melody):
        return Response(music.midi_bytes(request.tokens, request.title), media_type="audio/midi",
                        headers={"Content-Disposition": 'attachment; filename="decoded_melody.mid"'})

    return app


def _integer(text: str, name: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text!r}") from None


def bind(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (0: any free port); ``ValueError`` saying why it cannot."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise ValueError(f"--host {host!r} is not an address of this machine ({error.strerror})") from None
    sock = socket.socket(family, kind, protocol)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise ValueError(f"port {port} on {host} is busy: another program listens there; pass another "
                             "--port, or --port=0 for any free one") from None
        raise ValueError(f"cannot listen on {host} port {port}: {error.strerror}") from None
    sock.listen()  # connections wait from now on, so the URL printed works at once
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def _server(explorer: Explorer, host: str):
    import uvicorn

    return uvicorn.Server(uvicorn.Config(create_app(explorer, allowed_hosts(host)), log_level="warning",
                                         access_log=False))


def serve(explorer: Explorer, host: str, sock: socket.socket) -> None:
    """Serves ``explorer`` on the bound ``sock`` until interrupted (the command line's server)."""
    _server(explorer, host).run(sockets=[sock])


@contextlib.contextmanager
def running(explorer: Explorer, host: str = "127.0.0.1", port: int = 0):
    """Serves ``explorer`` from a background thread while the block runs; yields the page's URL (for a
    notebook, a script that drives the page, or a measurement)."""
    sock = bind(host, port)
    server = _server(explorer, host)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the explorer's server stopped while starting; see the messages above")
            thread.join(0.01)
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost``: reachable from this machine only."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
