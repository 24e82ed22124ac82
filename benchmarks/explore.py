r"""A local web page to see and hear what each latent dimension of a trained run does.

    python -m benchmarks.explore --model_dir=DIR [--port=8000] [--host=127.0.0.1]

Open the printed address in a browser; Ctrl+C stops the server. The page and its JSON API:
benchmarks.explorer.app and the docs' explorer guide.
"""
from __future__ import annotations

from benchmarks import cli

if __name__ == "__main__":
    cli.quiet_start()  # before TensorFlow loads


# A committed run with active dimensions (results/README.md lists the studies).
EXAMPLE_RUN = "results/reference/runs/s=0.1/cnn_beta_vae/beta=4/seed=0"


def main(argv=None) -> None:
    parser = cli.parser(__doc__, "explore")
    parser.add_argument("--model_dir", required=True, help="a finished training run (encoder.keras, decoder.keras)")
    parser.add_argument("--port", type=int, default=8000, help="port to serve on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; the default is reachable from this machine only")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a port: ports are 0..65535")
    from benchmarks.explorer.app import Explorer, allowed_hosts, bind, is_loopback, serve, url_of
    from benchmarks.gin_config import plain_message

    try:
        explorer = Explorer(args.model_dir)
        sock = bind(args.host, args.port)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"error: {plain_message(error)}") from None
    if not is_loopback(args.host):
        print(f"note: listening on {args.host}: other machines on its network can open the page"
              + (" by any name" if allowed_hosts(args.host) == ["*"] else f" at {args.host}"), flush=True)
    active = sum(dim.active for dim in explorer.dimensions)
    print(f"Latent explorer of {args.model_dir} ({active} of {explorer.latent_dim} dimensions active): "
          f"open {url_of(sock)} (Ctrl+C stops it)", flush=True)
    if not active:
        print(f"note: no dimension of this model is active, so its sliders change little; a run trained longer, "
              f"such as {EXAMPLE_RUN} in a checkout, shows more", flush=True)
    serve(explorer, args.host, sock)


if __name__ == "__main__":
    cli.run(main)
