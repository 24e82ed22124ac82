"""Parsing gin files for the entry points (train, evaluate): one place, one error type.

gin looks ``include`` files up under its search prefixes, the first of which is the working directory;
here they are resolved beside the files given, so a command behaves the same from any directory.
"""
from __future__ import annotations

import os
from typing import Sequence

import gin

from dmelodies_tfds.text import without_addresses


# The bindings that pick a run's seeds (training seed, data split): what a grid point's runs differ in.
SEED_BINDINGS = ("train.seed", "train.split_seed")


def is_seed_binding(binding: str) -> bool:
    """Whether ``binding`` (a gin binding or operative-config line, ``name = value``) sets one of
    :data:`SEED_BINDINGS`."""
    return binding.replace(" ", "").startswith(tuple(f"{name}=" for name in SEED_BINDINGS))


class ConfigurationError(ValueError):
    """The gin configuration (or the folder it is run in) does not describe a job that can start."""


def parse_config(gin_files: Sequence[str], gin_bindings: Sequence[str] = (), where: str = "gin_configs/") -> None:
    """Replaces gin's configuration with ``gin_files`` then ``gin_bindings``.

    Missing files, syntax errors, unknown configurables or parameters raise :class:`ConfigurationError`;
    ``where`` names the folder of known files in the message for a command given none.
    """
    gin.clear_config(clear_constants=True)
    if not gin_files:
        raise ConfigurationError(f"no --gin_file given: name one of the files in {where}")
    for path in gin_files:
        if not os.path.isfile(path):
            raise ConfigurationError(f"gin file {path} does not exist")
    prefixes = gin.config._LOCATION_PREFIXES
    saved = list(prefixes)
    prefixes[:] = list(dict.fromkeys(os.path.dirname(os.path.abspath(p)) for p in gin_files))
    try:
        gin.parse_config_files_and_bindings([os.path.abspath(p) for p in gin_files], list(gin_bindings))
    except (ValueError, OSError, SyntaxError) as error:
        raise ConfigurationError(f"invalid gin configuration: {error}") from None
    finally:
        prefixes[:] = saved


def plain_message(error: BaseException) -> str:
    """The error's message for a user: without the "In call to configurable ..." lines gin appends to
    errors raised inside configurables, and without memory addresses (``<function train at 0x7f…>``)."""
    lines = [line for line in str(error).splitlines() if not line.strip().startswith("In call to configurable")]
    return without_addresses("\n".join(lines))


def call_configured(function, *args, **kwargs):
    """Calls a gin-configured function; a required parameter left unbound is a ConfigurationError, and a
    ConfigurationError raised inside it keeps its own message (see :func:`plain_message`)."""
    try:
        return function(*args, **kwargs)
    except ConfigurationError as error:
        raise ConfigurationError(plain_message(error)) from None
    except RuntimeError as error:  # gin raises a bare RuntimeError for it
        if str(error).startswith("Required bindings"):
            raise ConfigurationError(str(error).splitlines()[0]) from None
        raise
