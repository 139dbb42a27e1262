"""The `config` of request-transformer: Kong's fields, defaults, `name:value` format and checks.

Differences from Kong, each refused loudly rather than silently ignored:
  - values are literal: Kong's `$(...)` templates are refused ("templates are not supported");
  - header values must not contain control characters (Kong does not check; it would allow
    header injection);
  - `body` operations apply to `application/json` and `application/x-www-form-urlencoded` bodies
    only; a `multipart/form-data` body is forwarded unchanged.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError

from oidcgate.config.types import HeaderName, HeaderValue
from oidcgate.plugins.base import PluginConfig

_HEADER_NAME: TypeAdapter[str] = TypeAdapter(HeaderName)
_HEADER_VALUE: TypeAdapter[str] = TypeAdapter(HeaderValue)
BODY_TYPES = "`application/json` or `application/x-www-form-urlencoded` (multipart bodies are left unchanged)"


def split_pair(entry: str) -> tuple[str, str]:
    """Kong's `^([^:]+):*(.-)$`: the name runs to the first colon, then every colon is skipped."""
    name, _, value = entry.partition(":")
    return name, value.lstrip(":")


def _no_template(value: str) -> None:
    if "$(" in value:
        raise ValueError(f"value '{value}' uses a template; templates are not supported by oidcgate")


def _check_header_name(name: str) -> None:
    try:
        _HEADER_NAME.validate_python(name)
    except ValidationError:
        raise ValueError(f"'{name}' is not a valid header") from None


def _name_value(entry: str) -> str:
    """`name:value` with a non-empty value (Kong's check_for_value), for querystring and body."""
    name, value = split_pair(entry)
    if not name:
        raise ValueError(f"'{entry}' has no key; expected 'name:value'")
    if not value:
        raise ValueError(f"key '{name}' has no value")
    _no_template(value)
    return entry


def _header(entry: str) -> str:
    """A header name (remove.headers); a `:value` part is ignored, as in Kong."""
    _check_header_name(split_pair(entry)[0])
    return entry


def _header_value_pair(entry: str) -> str:
    """`Header-Name:value` (add/replace/append); the value may be empty."""
    name, sep, _ = entry.partition(":")
    if not name or not sep:
        raise ValueError(f"invalid value: '{entry}'; expected 'header-name:value'")
    _check_header_name(name)
    value = split_pair(entry)[1]
    try:
        _HEADER_VALUE.validate_python(value)
    except ValidationError:
        raise ValueError(f"'{value}' is not a valid header value") from None
    _no_template(value)
    return entry


def _header_rename_pair(entry: str) -> str:
    """`Old-Name:New-Name`: both must be header names."""
    name, sep, _ = entry.partition(":")
    if not name or not sep:
        raise ValueError(f"invalid value: '{entry}'; expected 'old-header-name:new-header-name'")
    _check_header_name(name)
    _check_header_name(split_pair(entry)[1])
    return entry


def _uri(value: str) -> str:
    if not value.startswith("/") or any(c.isspace() or c in "?#" for c in value):
        raise ValueError(f"'{value}' is not a path: it must start with '/' and have no spaces, '?' or '#'")
    _no_template(value)
    return value


def _http_method(value: str) -> str:
    if not value.isascii() or not value.isalpha() or not value.isupper():
        raise ValueError(f"invalid value: '{value}'; expected an HTTP method in uppercase letters, e.g. POST")
    return value


Names = list[Annotated[str, Field(min_length=1)]]
HeaderNames = list[Annotated[str, AfterValidator(_header)]]
Pairs = list[Annotated[str, AfterValidator(_name_value)]]
HeaderPairs = list[Annotated[str, AfterValidator(_header_value_pair)]]
HeaderRenames = list[Annotated[str, AfterValidator(_header_rename_pair)]]


class RemoveConfig(PluginConfig):
    body: Names = Field(default_factory=list, description=(
        f"List of parameter names. Remove the parameter if the body is {BODY_TYPES} and it is present."))
    headers: HeaderNames = Field(default_factory=list, description=(
        "List of header names. Unset the headers with the given name."))
    querystring: Names = Field(default_factory=list, description=(
        "List of querystring names. Remove the querystring if it is present."))


class RenameConfig(PluginConfig):
    body: Pairs = Field(default_factory=list, description=(
        f"List of parameter `name:value` pairs. Rename the parameter name if the body is {BODY_TYPES} "
        "and the parameter is present."))
    headers: HeaderRenames = Field(default_factory=list, description=(
        "List of `original_header_name:new_header_name` pairs. If the header `original_header_name` is "
        "already set, rename it to `new_header_name`. Ignored if the header is not already set."))
    querystring: Pairs = Field(default_factory=list, description=(
        "List of `queryname:value` pairs. If the querystring is already set, rename it to the new name. "
        "Ignored if the querystring is not already set."))


class ReplaceConfig(PluginConfig):
    body: Pairs = Field(default_factory=list, description=(
        f"List of `paramname:value` pairs. If the body is {BODY_TYPES} and the parameter is already present, "
        "replace its old value with the new one. Ignored if the parameter is not already present."))
    headers: HeaderPairs = Field(default_factory=list, description=(
        "List of `headername:value` pairs. If and only if the header is already set, replace its old value "
        "with the new one. Ignored if the header is not already set. `host:value` sets the upstream Host."))
    querystring: Pairs = Field(default_factory=list, description=(
        "List of `queryname:value` pairs. If and only if the querystring name is already set, replace its "
        "old value with the new one. Ignored if the querystring name is not already set."))
    uri: Annotated[str, AfterValidator(_uri)] | None = Field(default=None, description=(
        "Updates the upstream request URI with a given value. This value can only be used to update the "
        "path part of the URI; not the scheme, nor the hostname."))


class AddConfig(PluginConfig):
    body: Pairs = Field(default_factory=list, description=(
        f"List of `paramname:value` pairs. If the body is {BODY_TYPES} and the parameter is not present, "
        "add a new parameter with the given value. Ignored if the parameter is already present."))
    headers: HeaderPairs = Field(default_factory=list, description=(
        "List of `headername:value` pairs. If and only if the header is not already set, set a new header "
        "with the given value. Ignored if the header is already set."))
    querystring: Pairs = Field(default_factory=list, description=(
        "List of `queryname:value` pairs. If and only if the querystring name is not already set, set a new "
        "querystring with the given value. Ignored if the querystring name is already set."))


class AppendConfig(PluginConfig):
    body: Pairs = Field(default_factory=list, description=(
        f"List of `paramname:value` pairs. If the body is {BODY_TYPES}, add a new parameter with the given "
        "value if the parameter is not present; if it is, the old and new values are aggregated in an array."))
    headers: HeaderPairs = Field(default_factory=list, description=(
        "List of `headername:value` pairs. If the header is not set, set it with the given value. If it is "
        "already set, a new header with the same name and the new value will be set."))
    querystring: Pairs = Field(default_factory=list, description=(
        "List of `queryname:value` pairs. If the querystring is not set, set it with the given value. If it "
        "is already set, a new querystring with the same name and the new value will be set."))


class RequestTransformerConfig(PluginConfig):
    """Kong's request-transformer config. Operations run in Kong's order: uri, http_method, then for
    headers, body and querystring in turn: remove, rename, replace, add, append."""

    http_method: Annotated[str, AfterValidator(_http_method)] | None = Field(default=None, description=(
        "A string representing an HTTP method, such as GET, POST, PUT, or DELETE. The string must contain "
        "only uppercase letters."))
    remove: RemoveConfig = Field(default_factory=RemoveConfig)
    rename: RenameConfig = Field(default_factory=RenameConfig)
    replace: ReplaceConfig = Field(default_factory=ReplaceConfig)
    add: AddConfig = Field(default_factory=AddConfig)
    append: AppendConfig = Field(default_factory=AppendConfig)
