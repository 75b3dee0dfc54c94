"""User-facing errors: one line that names the problem and the fix.

The CLI prints ``error: <message>`` and exits with status 2 for every ``BenchError``;
anything else is a bug and keeps its traceback.
"""


class BenchError(Exception):
    """A problem the user can fix (bad name, bad config, bad data)."""


class UnknownNameError(BenchError):
    """An unknown method, dataset, encoder, variant or preset name."""


class ConfigError(BenchError):
    """An unknown config key or a value of the wrong type."""


class DataError(BenchError):
    """A missing or corrupt file, or frames and labels that disagree."""


class NaNLossError(BenchError):
    """The loss became NaN or infinite during training."""


class DiskFullError(BenchError):
    """The disk (or the user's quota) filled up while writing a file."""


class RunInProgressError(BenchError):
    """Another process holds the lock of the same run or dataset."""
