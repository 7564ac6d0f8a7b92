"""User-facing errors: each message is one line saying what, which file, and what to do."""


class MidnetError(ValueError):
    """An error the command line prints as one line (no traceback unless --debug)."""
