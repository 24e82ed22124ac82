"""Generates the API reference at build time (mkdocs-gen-files): one page per public module of the
packages, found by walking them, so that the reference follows the code when modules move.

A module is public unless a part of its dotted name starts with ``_`` (``__main__`` included) or it is a
test module (``test_*.py``, ``*_test.py``). Each page is ``::: <module>`` for mkdocstrings; the pages'
navigation is written to ``reference/SUMMARY.md`` for mkdocs-literate-nav.
"""
from __future__ import annotations

import pathlib

import mkdocs_gen_files

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("dmelodies_tfds", "benchmarks")


def public_modules(package: str):
    """(dotted name, source path) of every public module of ``package``, packages before their modules."""
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts):
            continue  # private modules and __main__
        if parts[-1].startswith("test_") or parts[-1].endswith("_test"):
            continue
        yield parts, path


nav = mkdocs_gen_files.Nav()
for package in PACKAGES:
    for parts, path in public_modules(package):
        page = pathlib.Path("reference", *parts, "index.md") if path.name == "__init__.py" else \
            pathlib.Path("reference", *parts).with_suffix(".md")
        nav[tuple(parts)] = page.relative_to("reference").as_posix()
        with mkdocs_gen_files.open(page, "w") as file:
            file.write(f"::: {'.'.join(parts)}\n")
        mkdocs_gen_files.set_edit_path(page, path.relative_to(ROOT))

with mkdocs_gen_files.open("reference/SUMMARY.md", "w") as file:
    file.writelines(nav.build_literate_nav())
