"""The latent explorer: a local web page to see and hear what each latent dimension does
(:mod:`benchmarks.explorer.app`; its page in ``static/``)."""
