"""Typed errors raised by the library. Each message says what is wrong and what to do.

The CLI turns any `OfaDeployError` into one red line and exit code 2.
"""


class OfaDeployError(Exception):
    """Base class of every error the library raises on purpose."""


class SpaceError(OfaDeployError, ValueError):
    """A subnet or search-space description is invalid (wrong length, value outside the space)."""


class FormatError(OfaDeployError, ValueError):
    """A file is malformed or in a format we do not recognise."""


class CheckpointError(OfaDeployError):
    """A checkpoint does not match the supernet (missing / unexpected keys, wrong shapes)."""


class LatencyTableError(OfaDeployError):
    """A latency table is missing, corrupt, or lacks a key that a subnet needs."""


class DeviceError(OfaDeployError):
    """A device cannot be reached, or lacks the runtime it needs."""


class BudgetError(OfaDeployError):
    """No subnet meets the requested budget."""


class VerificationError(OfaDeployError):
    """An exported model does not compute what the PyTorch subnet computes."""


class ExportError(OfaDeployError):
    """A subnet cannot be exported (missing converter, unsupported option)."""


class DatasetError(OfaDeployError):
    """A dataset is missing or malformed (no such folder, unreadable image, labels file that does not fit)."""
