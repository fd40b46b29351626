"""Exceptions for bad input, and the one way every entry point reports them: one line."""

from __future__ import annotations

import sys
from collections.abc import Callable


class DemoeError(Exception):
    """Base class for user-facing errors (bad files, configs, checkpoints)."""


class CheckpointError(DemoeError):
    """A checkpoint cannot be read or does not fit the model."""


class DataError(DemoeError):
    """A dataset root, manifest or image is missing or malformed."""


class ConfigError(DemoeError):
    """A configuration value is missing, unknown or invalid."""


#: The exceptions every entry point reports as one line (bad input, not a bug).
USER_ERRORS: tuple[type[Exception], ...] = (DemoeError, ValueError, FileNotFoundError)
#: Exit status of a command stopped by bad input.
USER_ERROR_STATUS = 2


def run_reporting_errors(prog: str, func: Callable[[], int | None]) -> int:
    """Run an entry point's ``func``: its status, or one line ``"{prog}: error: ..."`` on
    stderr and :data:`USER_ERROR_STATUS` for a :data:`USER_ERRORS` exception. The one error
    style of the ``demoe`` command and of every ``analysis/`` script."""
    try:
        return int(func() or 0)
    except USER_ERRORS as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return USER_ERROR_STATUS
