"""A griffe extension for the API reference: the docstrings are written with Sphinx's roles
(``:func:`dmelodies_tfds.generate_tokens```, ``:mod:`~benchmarks.models```), which Markdown would print
as they are. Each becomes a code span linked to its target's reference page where that page exists,
and plain code where it does not (a name outside the packages, or one the docstring spells out of date).
"""
from __future__ import annotations

import html
import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|data|attr|exc|obj|const):`(?P<target>[^`]+)`")


def _replace(match: re.Match) -> str:
    target = match["target"].strip()
    title, explicit = target, re.match(r"(?P<title>.*?)\s*<(?P<target>[^>]+)>$", target)
    if explicit:  # :func:`title <target>`
        title, target = explicit["title"], explicit["target"]
    elif target.startswith("~"):  # :func:`~a.b.c` shows c
        target = target[1:]
        title = target.rsplit(".", 1)[-1]
    target = target.rstrip("()")
    return (f'<autoref identifier="{html.escape(target, quote=True)}" optional>'
            f"<code>{html.escape(title)}</code></autoref>")


class SphinxRoles(griffe.Extension):
    """Rewrites Sphinx roles in every docstring as optional cross-references."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None and ":" in obj.docstring.value:
            obj.docstring.value = ROLE.sub(_replace, obj.docstring.value)
