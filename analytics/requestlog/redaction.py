"""A query string fit for the request log: secrets replaced by `[redacted]`, cut to a bounded length.

A parameter's value is redacted when its name says it is a secret (`token`, `api_key`, ...), or
when it holds anything shaped like an API key (`prefix.secret`) or a JWT, whatever its name.
Every other part is kept as the client sent it, still URL-encoded.
"""

import re
from urllib.parse import unquote_plus

REDACTED = "[redacted]"
SECRET_PARAMETERS = frozenset({
    "key", "api_key", "apikey", "token", "access_token", "refresh_token", "id_token", "auth", "authorization",
    "password", "passwd", "secret", "client_secret", "signature", "sig",
})
# An API key's `prefix.secret` (8 letters or digits, a dot, 32 more), or a JWT's `eyJ...` header and payload.
SECRET_VALUE = re.compile(r"[A-Za-z0-9]{4,16}\.[A-Za-z0-9]{20,}|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_BRACKETED = re.compile(r"\[([^\]]*)\]")


def _secret_name(name: str) -> bool:
    """`token`, `Token`, or a bracketed one such as `meta[token]`."""
    name = name.lower()
    if name in SECRET_PARAMETERS:
        return True
    return "[" in name and any(inner in SECRET_PARAMETERS for inner in _BRACKETED.findall(name))


def _holds_secret(text: str) -> bool:
    return "." in text and SECRET_VALUE.search(text) is not None  # both shapes have a dot: most values skip the regex


def _redacted_part(part: str) -> str:
    raw_name, _, raw_value = part.partition("=")
    name, value = unquote_plus(raw_name), unquote_plus(raw_value)
    if _holds_secret(name):
        return REDACTED
    if _secret_name(name) or _holds_secret(value):
        return f"{raw_name}={REDACTED}"
    return part


def redacted_query(query: str, *, limit: int) -> str:
    """The query string with its secrets redacted, at most `limit` characters.

    Parts are redacted whole before the cut, so a secret that straddles it is never half kept.
    """
    kept, length = [], 0
    for part in query.split("&"):
        if length > limit:
            break
        part = _redacted_part(part) if part else part
        kept.append(part)
        length += len(part) + 1
    return "&".join(kept)[:limit]
