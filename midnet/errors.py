"""User-facing errors: each message is one line saying what, which file, and what to do."""


class MidnetError(ValueError):
    """An error the command line prints as one line (no traceback unless --debug)."""


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``exc``'s message for inside a one-line error: whitespace collapsed, cut to ``limit`` characters.

    A pydantic ValidationError becomes ``field: problem; field: problem`` (its own text
    spreads over several lines and links to pydantic's documentation).
    """
    errors = getattr(exc, "errors", None)
    if callable(errors):
        text = "; ".join(f"{'.'.join(str(x) for x in e.get('loc', ())) or 'config'}: {e.get('msg')}" for e in errors())
    else:
        text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + "..."
