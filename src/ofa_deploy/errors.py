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


class OutputError(OfaDeployError):
    """An output path cannot be written: it holds another kind of file, or its folder is read-only."""


class NoSpaceError(OutputError):
    """A write failed for lack of room (ENOSPC, EDQUOT) or on a read-only file system (EROFS);
    what was already kept stays, and the same command resumes once there is room (`fsio.no_space`)."""


class BusyError(OfaDeployError):
    """Another process is writing the same output (a table, dataset or run folder)."""


class OptionError(OfaDeployError, ValueError):
    """Command options that lack what the command needs or do not go together (no budget given)."""


class RecordError(OfaDeployError):
    """A command needs what an earlier step records (the last profile, search or export) and there is none."""


class BadValueError(OfaDeployError, ValueError):
    """A number given to an option (or a field of a file) is outside what it accepts: out of range,
    NaN or infinite, of the wrong sign, a range given in the wrong order, or too large to run."""


class TrainingDiverged(OfaDeployError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


class DatasetError(OfaDeployError):
    """A dataset is missing or malformed (no such folder, unreadable image, labels file that does not fit)."""


class ReportError(OfaDeployError):
    """`ofa-deploy report` has nothing to report, or was given a path that is not what it says."""
