"""Latent explorer: the server round trip of one slider move (target ≤ 50 ms on two CPU cores).

    python perf/explore_latency.py [--model_dir results/compressed/runs/cnn_beta_vae/beta=1/seed=0]
        [--moves 300]

Starts ``python -m benchmarks.explore --port=0`` on the run as its own process, as a user does, loads a
start melody, then sends ``--moves`` slider moves (``POST /api/decode``, one dimension set to a value
along its slider each time) over one kept-alive HTTP connection, as the browser's ``fetch`` does, and
prints the round trip's median, 95th percentile and maximum: request, validation, decoding, read-back,
note list and JSON, both ways. The first ten moves (tracing) are not counted.
"""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_MS = 50.0


def start_server(model_dir: str) -> tuple[subprocess.Popen, str]:
    """The explorer as a separate process, and the URL it prints once it listens."""
    server = subprocess.Popen([sys.executable, "-m", "benchmarks.explore", f"--model_dir={model_dir}", "--port=0"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in server.stdout:
        found = re.search(r"open (http://\S+/)", line)
        if found:
            return server, found.group(1)
    server.wait()
    raise SystemExit(f"the explorer did not start (exit status {server.returncode}): run it by hand to see why")


def round_trips(url: str, moves: int) -> list[float]:
    address = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port)

    def call(method, path, body=None):
        connection.request(method, path, body=None if body is None else json.dumps(body),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = json.loads(response.read())
        if response.status != 200:
            raise SystemExit(f"{path} answered {response.status}: {payload}")
        return payload

    dimensions = call("GET", "/api/model")["dimensions"]
    code = call("GET", "/api/melody?index=812345")["code"]
    seconds = []
    for move in range(moves + 10):
        dimension = dimensions[move % len(dimensions)]
        moved = list(code)
        moved[dimension["dimension"]] = dimension["low"] + (dimension["high"] - dimension["low"]) * (move % 21) / 20
        started = time.perf_counter()
        call("POST", "/api/decode", {"code": moved})
        seconds.append(time.perf_counter() - started)
    connection.close()
    return seconds[10:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", default=os.path.join(ROOT, "results/compressed/runs/cnn_beta_vae/beta=1/seed=0"))
    parser.add_argument("--moves", type=int, default=300)
    args = parser.parse_args()
    server, url = start_server(os.path.abspath(args.model_dir))
    try:
        milliseconds = sorted(1000 * s for s in round_trips(url, args.moves))
    finally:
        server.terminate()
        server.wait()
    p95 = milliseconds[int(0.95 * (len(milliseconds) - 1))]
    print(f"slider move round trip over {len(milliseconds)} moves ({args.model_dir}): "
          f"median {statistics.median(milliseconds):.1f} ms, 95th percentile {p95:.1f} ms, "
          f"max {milliseconds[-1]:.1f} ms (target ≤ {TARGET_MS:.0f} ms)")


if __name__ == "__main__":
    main()
