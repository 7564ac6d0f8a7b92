"""Shared pieces of the command-line options."""


def option_group(*options):
    """One decorator for several click options (they appear in --help in the order given)."""
    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command

    return apply
