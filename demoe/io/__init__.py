"""File I/O: atomic writes and checkpoints."""
