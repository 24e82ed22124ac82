"""Where a sweep's runs execute: this machine (:mod:`benchmarks.runners.local`: one after another, side by
side, or stacked) or a Ray cluster (:mod:`benchmarks.runners.ray`). Each run is the same commands."""
