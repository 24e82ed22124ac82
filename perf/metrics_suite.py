"""Evaluation performance: the standard suite on one model, then every other metric config.

    python perf/metrics_suite.py [--model_dir DIR] [--architecture cnn|rnn] [--dci] [--only NAME ...]

Scores a trained run's encoder (``--model_dir``) or, without one, an untrained encoder of the paper's
architecture (same cost per melody), through :func:`benchmarks.evaluation.scoring.score` at the sizes of
``gin_configs/metrics`` (disentanglement_lib's standard study; the paper's protocol for ``paper``).
Encoding is included in every figure. Prints one line per config and the standard suite's total,
whose target is 60 s on two CPU cores. DCI (about 850 s) runs only with ``--dci``.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SUITE_TARGET_S = 60.0


def networks(model_dir, architecture):
    from benchmarks.evaluation import representation

    if model_dir:
        return representation.load_encoder(model_dir), representation.load_decoder(model_dir)
    from benchmarks.models import ARCHITECTURES

    arch = ARCHITECTURES[architecture]()
    return arch.encoder, arch.decoder


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", help="a finished training run (default: an untrained model)")
    parser.add_argument("--architecture", default="cnn", choices=["cnn", "rnn"])
    parser.add_argument("--dci", action="store_true", help="also time DCI (about 850 s)")
    parser.add_argument("--only", nargs="+", help="time only these configs")
    args = parser.parse_args()

    from benchmarks.evaluation import scoring as evaluate
    from benchmarks.study.suites import STANDARD_SUITE

    encoder, decoder = networks(args.model_dir, args.architecture)
    others = ["beta_vae_sklearn", "factor_vae_metric", "irs", "controllability", "generalisation", "paper"]
    others += ["dci"] * args.dci
    names = args.only or [*STANDARD_SUITE, *others]
    print(f"encoder: {args.model_dir or f'untrained {args.architecture}'}; {os.cpu_count()} CPUs")
    suite = 0.0
    for name in names:
        start = time.perf_counter()
        result = evaluate.score(encoder, metrics=[name], decoder=decoder)[name]
        seconds = time.perf_counter() - start
        suite += seconds if name in STANDARD_SUITE else 0.0
        per_metric = ", ".join(f"{m} {s:.1f} s" for m, s in result["metric_seconds"].items())
        print(f"{name}: {seconds:.1f} s ({per_metric})", flush=True)
    if set(STANDARD_SUITE) <= set(names):
        verdict = "within" if suite <= SUITE_TARGET_S else "OVER"
        print(f"standard suite {' + '.join(STANDARD_SUITE)}: {suite:.1f} s "
              f"({verdict} the {SUITE_TARGET_S:.0f} s target)")


if __name__ == "__main__":
    main()
