"""Errors raised for bad user input.

Every problem with data or parameters a user gave raises :class:`InputError`, a ``ValueError``
whose message names the problem in one line. The CLI prints that line and exits non-zero.
"""


class InputError(ValueError):
    """Bad input (file, array or parameter); the message is one line meant for the user."""
