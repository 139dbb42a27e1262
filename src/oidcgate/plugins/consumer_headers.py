"""Kong's consumer headers: who the gateway says a request is, for the upstream.

As Kong's authentication plugins do (`set_consumer`): `X-Consumer-ID`, `X-Consumer-Custom-ID` and
`X-Consumer-Username` from the consumer, `X-Credential-Identifier` from the credential, and
`X-Anonymous-Consumer: true` when a consumer is attached without a credential (Kong's `anonymous`).
The proxy drops the client's own copies of these names while parsing (proxy.headers.CONSUMER_HEADERS),
so an upstream written for Kong can trust them. Fields are computed once per consumer and credential.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oidcgate.http.fields import Encoded, encode_field

if TYPE_CHECKING:
    from oidcgate.config.entities import Consumer

NAMES = ("X-Consumer-ID", "X-Consumer-Custom-ID", "X-Consumer-Username", "X-Credential-Identifier",
         "X-Anonymous-Consumer")
_MEMO_MAX = 4096
_memo: dict[tuple[str | None, str | None], tuple[bytes, ...]] = {}


def credential_id(credential: dict[str, Any] | None) -> str | None:
    value = credential.get("id") if credential else None
    return None if value is None else str(value)


def consumer_fields(consumer: Consumer | None, credential: dict[str, Any] | None) -> tuple[bytes, ...]:
    """The consumer headers in wire form (see oidcgate.http.fields); empty when nobody is attached."""
    cred = credential_id(credential)
    key = (consumer.id if consumer is not None else None, cred)
    fields = _memo.get(key)
    if fields is not None:
        return fields
    found: list[bytes] = []
    if consumer is not None:
        for name, value in (("X-Consumer-ID", consumer.id), ("X-Consumer-Custom-ID", consumer.custom_id),
                            ("X-Consumer-Username", consumer.username)):
            if value is not None:
                found += header_field(name, value)
    if cred is not None:
        found += header_field("X-Credential-Identifier", cred)
    elif consumer is not None and credential is None:
        found += header_field("X-Anonymous-Consumer", "true")
    fields = tuple(found)
    if len(_memo) >= _MEMO_MAX:
        _memo.clear()
    _memo[key] = fields
    return fields


def header_field(name: str, value: str) -> Encoded:
    """A field for a value that may hold what a header cannot (a claim): such characters are replaced by `?`."""
    try:
        return encode_field(name, value)
    except (ValueError, UnicodeEncodeError):
        safe = "".join(c if " " <= c <= "~" else "?" for c in value)
        return encode_field(name, safe)
