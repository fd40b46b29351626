"""Exceptions for bad input that the CLI reports as one line."""


class DemoeError(Exception):
    """Base class for user-facing errors (bad files, configs, checkpoints)."""


class CheckpointError(DemoeError):
    """A checkpoint cannot be read or does not fit the model."""


class DataError(DemoeError):
    """A dataset root, manifest or image is missing or malformed."""


class ConfigError(DemoeError):
    """A configuration value is missing, unknown or invalid."""
