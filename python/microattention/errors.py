"""The one error type for mistakes a user can fix (a bad file, row, option or
value). Every module raises it (or a subclass); the CLI prints its message
without a traceback and exits 1. Low-level modules import it from here, never
from the CLI."""


class UserError(Exception):
    """An error the user can fix; the message names the file, row, option or value."""
