"""Reading a request's cookies (RFC 6265 §5.4: `Cookie: a=1; b=2`, one or more fields)."""

from __future__ import annotations

import re
from collections.abc import Iterable

COOKIE_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 6265 §4.1.1: a token


def parse(headers: Iterable[str]) -> dict[str, str]:
    """name → value of every cookie the request carries (the first one of a name wins)."""
    cookies: dict[str, str] = {}
    for header in headers:
        for pair in header.split(";"):
            name, sep, value = pair.strip().partition("=")
            if sep and name and name not in cookies:
                cookies[name] = value.strip().strip('"')
    return cookies
