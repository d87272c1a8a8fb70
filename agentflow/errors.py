"""User-facing errors: each names the cause and the fix, and is printed without a traceback."""


class UserError(Exception):
    """A mistake or missing prerequisite the user can fix; the CLI prints it on one line."""
