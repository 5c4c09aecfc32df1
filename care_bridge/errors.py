"""User-facing errors.

Every expected failure (bad input, bad bundle, bad option) raises :class:`CareBridgeError` with a one-line
message that names the problem and the fix. Front ends (CLI, Fiji, KNIME) print the message without a
traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class CareBridgeError(Exception):
    """An expected error with a one-line message: what is wrong and how to fix it."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class BundleError(CareBridgeError):
    """A bundle is missing, malformed, tampered with or unsupported."""
