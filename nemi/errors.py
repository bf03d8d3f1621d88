"""Errors a user can act on.

Every stage raises :class:`NemiInputError` for bad input (a missing or damaged file,
a bad config value): the CLI prints its message without a traceback and exits 2, so
the message must name the file or config key and say what is wrong.
"""


class NemiInputError(ValueError):
    """Bad input that the user can fix; the message names the file or key."""


class NemiConfigError(NemiInputError):
    """A config file that does not match the schema; the message names the key."""
