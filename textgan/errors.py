"""Errors a user can cause. The CLI prints them as one line `textgan: error: ...` and exits 2."""


class TextGanError(Exception):
    """A problem with the user's input (file, config, checkpoint); the message names the fix."""


class ConfigError(TextGanError):
    """A bad config key, value type or range."""


class DataError(TextGanError):
    """A corpus that is missing, empty, unreadable or lacks the requested field."""


class CheckpointError(TextGanError):
    """A missing, corrupt or mismatched checkpoint."""
