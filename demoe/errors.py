"""Exceptions for bad input, and the one way every entry point reports them: one line."""

from __future__ import annotations

import errno
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
#: OS errors of the machine rather than the code (a full disk or quota, a read-only or
#: forbidden place): reported as one line, like bad input.
MACHINE_ERRNOS: frozenset[int] = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
)


def run_reporting_errors(prog: str, func: Callable[[], int | None]) -> int:
    """Run an entry point's ``func``: its status, or one line ``"{prog}: error: ..."`` on
    stderr and :data:`USER_ERROR_STATUS` for a :data:`USER_ERRORS` exception or an OS error
    of :data:`MACHINE_ERRNOS` (a full disk while evaluating, training or checkpointing). The
    one error style of the ``demoe`` command and of every ``analysis/`` script."""
    try:
        return int(func() or 0)
    except USER_ERRORS as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return USER_ERROR_STATUS
    except OSError as exc:
        if exc.errno not in MACHINE_ERRNOS:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"{prog}: error: cannot write{where}: {exc.strerror}", file=sys.stderr)
        return USER_ERROR_STATUS
