"""Outside data made safe for a log line: no control character can start a forged line."""

LIMIT = 200


def safe(value, limit=LIMIT):
    """Return `value` as one printable line: control and other non-printable characters escaped as repr() does.

    For anything that came from outside NetBox (query strings, claims, token headers, group names,
    exception texts that quote them): `%0A` in an error_description must not start a second log line.
    Longer values are cut to `limit` characters, marked with '…'.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + '…'
    if text.isprintable():
        return text
    return ''.join(character if character.isprintable() else repr(character)[1:-1] for character in text)


def safe_names(names, shown=10):
    """A log-friendly list of outside names: the first few, each made safe, then how many more."""
    names = list(names)
    if not names:
        return 'none'
    more = f', … {len(names) - shown} more' if len(names) > shown else ''
    return ', '.join(safe(name) for name in names[:shown]) + more
