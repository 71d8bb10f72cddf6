"""What one diagnostic check found: the value every diagnostic returns and the command prints."""

from typing import NamedTuple


class Finding(NamedTuple):
    """The outcome of one check: status is 'ok', 'warning', 'error' or 'info'."""

    check: str
    status: str
    message: str
    hint: str = ''


def ok(check, message):
    return Finding(check, 'ok', message)


def warning(check, message, hint):
    return Finding(check, 'warning', message, hint)


def error(check, message, hint):
    return Finding(check, 'error', message, hint)


class FetchError(Exception):
    """A request to Authentik that failed, as one line and its fix."""

    def __init__(self, message, hint):
        super().__init__(message)
        self.message = message
        self.hint = hint
