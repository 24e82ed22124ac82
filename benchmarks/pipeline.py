"""The whole pipeline on a small default, end to end: the README's first command
(``python -m benchmarks.quickstart``).

1. builds the ``dmelodies/tiny`` TFDS dataset under ``OUT/tensorflow_datasets``;
2. trains the paper's CNN VAE with the β-VAE objective at β = 1 (``gin_configs/cnn_beta_vae.gin``) on
   its 7,000 training melodies: 10 epochs of batch 128 (540 steps), with a demonstration schedule (a
   10x learning rate, 3 warm-up epochs, 200 annealing steps), not a paper run. It leaves a complete
   run (checkpoints, TensorBoard logs, encoder, decoder, results) in ``OUT/run``;
3. scores the encoder with disentanglement_lib's MIG, Modularity and SAP (standard protocol, on
   fewer points than the standard 10,000 so that it takes seconds);
4. writes the results table and figures to ``OUT/report`` and one reconstructed melody as MIDI.

Rerunning it reuses what is finished. Everything the paper needs is the same commands at full size:
see the README.
"""
from __future__ import annotations

import json
import os

from benchmarks.study.configs import gin_file
from dmelodies_tfds.atomic import write_text

QUICKSTART_FILE = "quickstart.json"  # what the demo returns, written beside its outputs
# Points scored per metric: small for speed; the standard protocol uses 10,000 (+5,000 to test).
_POINTS = {"mig": ("mig.num_train=2000",),
           "modularity_explicitness": ("modularity_explicitness.num_train=2000",
                                       "modularity_explicitness.num_test=1000"),
           "sap_score": ("sap_score.num_train=2000", "sap_score.num_test=1000")}


def quickstart(out: str, epochs: int = 10, batch_size: int = 128, seed: int = 0) -> dict:
    """Runs the four steps above; returns the training results and the metric scores."""
    import dmelodies_tfds as d
    from benchmarks import run_dir as folder
    from benchmarks.evaluation import scoring
    from benchmarks.evaluation.representation import greedy_decoder, load_decoder, load_encoder, posterior_mean
    from benchmarks.reporting import report
    from benchmarks.training import data, run as training
    from dmelodies_tfds import music

    data_dir = os.path.join(out, "tensorflow_datasets")
    run_dir = os.path.join(out, "run")
    print(f"[1/4] dataset dmelodies/tiny in {data_dir}", flush=True)
    data.TFDSSource(config="tiny", data_dir=data_dir).load("train", seed)  # built here on first use
    if folder.status(run_dir) == "finished":
        print(f"[2/4] reusing the run finished earlier in {run_dir} (delete it to train again)", flush=True)
    else:
        print(f"[2/4] training a CNN β-VAE (β = 1, batch {batch_size}, demonstration schedule) for {epochs} "
              f"epochs in {run_dir}", flush=True)
    results = training.run(
        [gin_file("cnn_beta_vae")],
        [
            "TFDSSource.config = 'tiny'",
            f"TFDSSource.data_dir = {data_dir!r}",
            f"train.epochs = {epochs}",
            f"train.batch_size = {batch_size}",
            f"train.seed = {seed}",
            # A demo, not a paper run: a 10x learning rate and a short warm-up and annealing, so that
            # a few hundred steps learn something (the paper's 10 warm-up epochs would leave β at 0).
            "keras.optimizers.Adam.learning_rate = 1e-3",
            "BetaVAE.warmup_epochs = 3",
            "BetaVAE.annealing_steps = 200",
        ],
        run_dir,
    )
    print(f"      test reconstruction accuracy {results['test_reconstruction_accuracy']:.3f}", flush=True)

    print("[3/4] disentanglement_lib metrics", flush=True)
    scores = {}
    for name, bindings in _POINTS.items():
        result, path = scoring.run(run_dir, [scoring.config_file(name)], [f"evaluation.random_seed = {seed}",
                                                                           *bindings])
        scores[name] = result["scores"][name]
        shown = ", ".join(f"{k} {v:.3f}" for k, v in result["scores"][name].items() if isinstance(v, float))
        print(f"      {name}: {shown}", flush=True)

    print(f"[4/4] report in {os.path.join(out, 'report')}", flush=True)
    summary = report.build_report(out, os.path.join(out, "report"))
    for figure in summary["figures"]:
        print(f"      {figure}")
    melody = d.generate_tokens(d.split_indices("test")[:1])
    encode, decode = posterior_mean(load_encoder(run_dir)), greedy_decoder(load_decoder(run_dir))
    reconstruction = decode(encode(melody))[0]
    midi = os.path.join(out, "reconstruction.mid")
    music.write_midi(reconstruction, midi, title="dMelodies: a test melody reconstructed", overwrite=True)
    print(f"      original      {' '.join(d.tokens_to_names(melody[0]))}")
    print(f"      reconstructed {' '.join(d.tokens_to_names(reconstruction))}")
    print(f"      wrote {midi}")
    summary = {"results": results, "scores": scores}
    write_text(os.path.join(out, QUICKSTART_FILE), json.dumps(summary, indent=2) + "\n")
    return summary
