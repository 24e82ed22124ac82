"""dmelodies: the dMelodies disentanglement benchmark on TensorFlow (dataset, training, evaluation).

disentanglement-lib 1.5 pins TF1-era packages (tensorflow-probability 0.7, tensorflow-hub) that do
not import on TF 2.21, so it is installed without its dependencies (see README's install command)
and the few it really needs are listed here instead.
"""
from setuptools import find_packages, setup

setup(
    name="dmelodies",
    version="1.0.0",
    description="The dMelodies music disentanglement dataset (TFDS) and its benchmarks in Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # gin_configs/ (at the top of the checkout, where the commands' examples name it) is installed inside
    # the package as benchmarks/gin_configs, so that a non-editable install finds it (benchmarks.study.configs).
    packages=find_packages(include=["dmelodies_tfds", "dmelodies_tfds.*", "benchmarks", "benchmarks.*"])
    + ["benchmarks.gin_configs", "benchmarks.gin_configs.metrics"],
    package_dir={"benchmarks.gin_configs": "gin_configs", "benchmarks.gin_configs.metrics": "gin_configs/metrics"},
    package_data={"dmelodies_tfds.dmelodies": ["README.md", "CITATIONS.bib", "TAGS.txt", "checksums.tsv",
                                               "croissant.json"],
                  "benchmarks.explorer": ["static/*"],
                  "benchmarks.gin_configs": ["*.gin"], "benchmarks.gin_configs.metrics": ["*.gin"]},
    include_package_data=True,
    install_requires=[
        "numpy>=1.26",
        "tensorflow==2.21.*",
        "tensorflow-datasets==4.9.*",
        "importlib_resources",  # imported by TFDS 4.9.10 but missing from its metadata
        "music21>=9",
        "gin-config==0.5.*",
        "absl-py",
        "tensorboard",
        "matplotlib",
        "tqdm",
        # tfds.as_dataframe styles its table with pandas' Styler, which imports jinja2; pandas only
        # lists it as optional, so without this line as_dataframe fails.
        "jinja2",
        # What disentanglement-lib's ground_truth and metrics modules import (it is installed --no-deps).
        "scikit-learn",
        "scipy",
        "pandas",
        "simplejson",
        "six",
        "future",
        "imageio",
        "pillow",
        "seaborn",  # imported by disentanglement_lib.evaluation.metrics.unified_scores
        "threadpoolctl",  # benchmarks/generalisation.py: its probes run BLAS on one thread
        # python -m benchmarks.explore: the latent explorer's web server.
        "fastapi",
        "uvicorn",
    ],
    extras_require={
        # nbclient, nbformat and ipykernel execute the notebook (its test, tools/execute_notebook.py);
        # nbconvert gives `jupyter nbconvert --to notebook --execute notebooks/dmelodies_tour.ipynb`.
        # grain reads the ArrayRecord data source without TensorFlow (its test and the README's example).
        # playwright drives Debian's chromium (.ci/run installs it) in the explorer's browser test.
        # ray: the sweep's Ray backend and its tests (tested with Ray 2.60 beside TensorFlow 2.21).
        # mkdocs, its Material theme and mkdocstrings build the site (tests/test_docs.py builds it strictly).
        # mlcroissant validates the dataset's Croissant file (tests/dmelodies_tfds/test_croissant.py) and
        # python -m dmelodies_tfds croissant writes it with mlcroissant's classes (1.1.1 changes no other package).
        # lightgbm: the fast DCI and fairness (gin_configs/metrics/dci_fast.gin, fairness_fast.gin) and their tests.
        # pytest-xdist: the suite on two processes (README's test command), a file's tests in one of them.
        # jax and torch: the cross-backend tests (CPU builds: torch 2.13.0 is PyTorch's CPU wheel where this
        # project's CI runs; elsewhere pip may fetch a larger CUDA build).
        "test": ["pytest", "pytest-xdist", "dill", "nbclient", "nbformat", "ipykernel", "nbconvert", "grain>=0.2.18", "playwright",
                 "ray", "mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26", "mkdocs-gen-files>=0.5",
                 "mkdocs-literate-nav>=0.6", "jax>=0.4.36", "torch==2.13.0", "mlcroissant>=1.1", "lightgbm>=4"],
        # The documentation site: mkdocs build --strict (or mkdocs serve), API reference from the docstrings.
        "docs": ["mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26", "mkdocs-gen-files>=0.5",
                 "mkdocs-literate-nav>=0.6"],
        "grain": ["grain>=0.2.18"],
        "fast-dci": ["lightgbm>=4"],  # dci_fast.gin and fairness_fast.gin: histogram boosted trees
        "ray": ["ray"],  # python -m benchmarks.sweep --runner=ray
        # python -m benchmarks.train --backend=jax|torch (the other Keras 3 backends; docs/training.md).
        "jax": ["jax>=0.4.36"],
        "torch": ["torch>=2.6"],
        # `tfds build` imports these at start-up; they downgrade protobuf, pyarrow and pillow (README).
        "tfds-cli": ["apache-beam", "mlcroissant"],
    },
)
