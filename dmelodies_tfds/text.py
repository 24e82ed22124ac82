"""Text for people: plain ``--help`` and one-line error messages, for both packages' command lines.

Docstrings here are reStructuredText (double backticks around code, roles such as :func:); a
command's --help shows them as plain text. Error messages end up on one line of a terminal, so they
are flattened and lose memory addresses (``<object at 0x7f...>``), which mean nothing to a reader.
"""
from __future__ import annotations

import re

_ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|data|attr|obj|exc|ref|doc):`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def plain_text(text: str) -> str:
    """``text`` without reStructuredText markup: x in double backticks, or in a role such as :func:, becomes x."""
    return _LITERAL.sub(r"\1", _ROLE.sub(r"\1", text))


def without_addresses(text: str) -> str:
    """``text`` without memory addresses: ``<function train at 0x7f…>`` reads ``<function train>``."""
    return _ADDRESS.sub("", text)


def one_line(message) -> str:
    """``str(message)`` on one line, without memory addresses."""
    return " ".join(without_addresses(str(message)).split())


def short_repr(value, limit: int = 300) -> str:
    """``repr(value)`` on one line, without memory addresses, cut at ``limit`` characters."""
    text = " ".join(_ADDRESS.sub("", repr(value)).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
