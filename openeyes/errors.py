"""The one error type users see: bad input, missing files, unknown names.

Anything raised as ``UserError`` ends a CLI command with a one-line message and exit code 2
(never a traceback) and becomes a 4xx in the service.
"""


class UserError(Exception):
    """A problem with what the user asked for, worded for the user."""


def require(condition: bool, message: str) -> None:
    """Raise ``UserError(message)`` unless ``condition`` holds."""
    if not condition:
        raise UserError(message)
