"""Turn a pydantic JSON schema into HTML form fields, and a submitted form back into JSON.

Plugin config forms and entity forms are both generated here, so a new plugin (bundled or
third-party) gets a form without GUI code. Pure functions only: the Admin API stays the single
judge of validity; this module only converts strings to the JSON types the schema names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

Widget = Literal["text", "password", "secrets", "number", "checkbox", "tristate", "select", "lines",
                 "checkboxes", "json", "group"]

# Words written in capitals in Kong's labels ("client_id" -> "Client ID", "jwks_uri" -> "JWKS URI").
ACRONYMS = frozenset({
    "acl", "api", "cors", "dn", "dpop", "grpc", "grpcs", "http", "https", "id", "ids", "ip", "jti", "json",
    "jwk", "jwks", "jwt", "mtls", "oidc", "pkce", "sni", "snis", "ssl", "tcp", "tls", "ttl", "uri", "uris",
    "url", "urls",
})
SPELLED = {"ids": "IDs", "snis": "SNIs", "uris": "URIs", "urls": "URLs", "openid": "OpenID", "oauth2": "OAuth2"}
SECRET_NAME_RE = re.compile(r"(^|_)(secret|password|passphrase|private_key|client_key|token_secret)$")
UNSET = object()  # a field the form left empty: omitted from the JSON body so the schema default applies
CLEAR_PREFIX = "clear:"  # checkbox `clear:config.client_secret` = index: drop that stored secret


def label(name: str) -> str:
    """Kong-style Title Case label from a field name."""
    words = []
    for word in name.replace("-", "_").split("_"):
        if not word:
            continue
        if word in SPELLED:
            words.append(SPELLED[word])
        elif word in ACRONYMS:
            words.append(word.upper())
        else:
            words.append(word[0].upper() + word[1:])
    return " ".join(words)


@dataclass(frozen=True)
class FormField:
    """One input (or a fieldset of inputs for a nested object) and how to parse it back."""

    name: str  # dotted path of the value in the JSON body, e.g. "config.issuer"
    label: str
    widget: Widget
    required: bool = False
    nullable: bool = False
    default: Any = None
    help: str | None = None
    options: tuple[Any, ...] = ()  # enum values, in schema order
    item_type: str = "string"  # JSON type of each value of a "lines" field
    number_type: str = "integer"
    minimum: float | None = None
    maximum: float | None = None
    children: tuple[FormField, ...] = ()

    @property
    def key(self) -> str:
        return self.name.rpartition(".")[2]

    @property
    def dom_id(self) -> str:
        return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.name)

    def walk(self) -> Iterable[FormField]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class _Shape:
    """A schema node with $ref, allOf and `X | None` taken apart."""

    node: Mapping[str, Any]
    nullable: bool


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> _Shape:
    nullable = False
    seen = 0
    while seen < 32:  # schemas are finite; the bound only guards against a self-referencing $ref
        seen += 1
        if "$ref" in node:
            target = defs.get(str(node["$ref"]).rpartition("/")[2], {})
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        elif len(node.get("allOf", ())) == 1:
            node = {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}
        elif "anyOf" in node:
            branches = [b for b in node["anyOf"] if b.get("type") != "null"]
            nullable = nullable or len(branches) < len(node["anyOf"])
            if len(branches) != 1:
                return _Shape({k: v for k, v in node.items() if k != "anyOf"} | {"type": "any"}, nullable)
            node = {**branches[0], **{k: v for k, v in node.items() if k != "anyOf"}}
        else:
            break
    return _Shape(node, nullable or node.get("type") == "null")


def is_secret(name: str, node: Mapping[str, Any]) -> bool:
    return bool(SECRET_NAME_RE.search(name) or node.get("writeOnly") or node.get("format") == "password")


def _enum(node: Mapping[str, Any]) -> tuple[Any, ...]:
    if "enum" in node:
        return tuple(node["enum"])
    if "const" in node:
        return (node["const"],)
    return ()


def _field(name: str, key: str, raw: Mapping[str, Any], defs: Mapping[str, Any], required: bool) -> FormField:
    shape = _resolve(raw, defs)
    node = shape.node
    common: dict[str, Any] = {
        "name": name, "label": label(key), "required": required, "nullable": shape.nullable,
        "default": node.get("default"), "help": node.get("description"),
    }
    kind = node.get("type")
    options = _enum(node)
    if options:
        return FormField(widget="select", options=options, **common)
    if kind == "boolean":
        return FormField(widget="tristate" if shape.nullable else "checkbox", **common)
    if kind in ("integer", "number"):
        low = node.get("minimum", node.get("exclusiveMinimum"))
        high = node.get("maximum", node.get("exclusiveMaximum"))
        return FormField(widget="number", number_type=kind, minimum=low, maximum=high, **common)
    if kind == "string":
        return FormField(widget="password" if is_secret(key, node) else "text", **common)
    if kind == "array":
        items = _resolve(node.get("items", {}), defs).node
        item_options = _enum(items)
        if item_options:
            return FormField(widget="checkboxes", options=item_options, **common)
        if items.get("type") == "string" and is_secret(key, items):
            return FormField(widget="secrets", **common)
        if items.get("type") in ("string", "integer", "number"):
            return FormField(widget="lines", item_type=items["type"], **common)
    if kind == "object" and "properties" in node and not node.get("additionalProperties"):
        children = tuple(schema_fields(node, defs, prefix=f"{name}."))
        return FormField(widget="group", children=children, **common)
    return FormField(widget="json", **common)


class _WithFactoryDefaults(GenerateJsonSchema):
    """JSON schema that also shows defaults made by `default_factory` (e.g. scopes = ["openid"])."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()  # type: ignore[call-arg]
        return super().get_default_value(schema)


def form_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema for forms: pydantic's, with every default a new entity would get."""
    schema: dict[str, Any] = model.model_json_schema(schema_generator=_WithFactoryDefaults)
    return schema


def schema_fields(schema: Mapping[str, Any], defs: Mapping[str, Any] | None = None, *, prefix: str = "",
                  include: Sequence[str] | None = None) -> list[FormField]:
    """The form fields of an object schema, in schema order (or in `include` order, only those)."""
    defs = schema.get("$defs", {}) if defs is None else defs
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    keys = [k for k in include if k in properties] if include is not None else list(properties)
    return [_field(prefix + key, key, properties[key], defs, key in required) for key in keys]


# ---- what the inputs show ------------------------------------------------------------------------------

def lookup(data: Mapping[str, Any] | None, dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _stored_count(value: Any) -> int:
    if isinstance(value, list):
        return len(value)
    return 0 if value in (None, "") else 1


def _shown(f: FormField, value: Any) -> Any:
    if f.widget in ("password", "secrets"):
        return _stored_count(value)  # how many placeholders to show; secrets never go back to the browser
    if f.widget == "checkbox":
        return bool(value)
    if f.widget == "checkboxes":
        return [str(v) for v in value or ()]
    if value is None:
        return ""
    if f.widget == "lines":
        return "\n".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if f.widget == "json":
        return json.dumps(value, indent=2, sort_keys=True)
    if f.widget == "tristate":
        return "true" if value else "false"
    return str(value)


def initial_values(fields: Sequence[FormField], data: Mapping[str, Any] | None) -> dict[str, Any]:
    """What each input shows for an entity as the Admin API returned it, or the defaults for a new one."""
    return {f.name: _shown(f, lookup(data, f.name) if data is not None else f.default)
            for top in fields for f in top.walk() if f.widget != "group"}


def submitted_values(fields: Sequence[FormField], form: FormValues,
                     stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """What each input shows again after a refused submit: what was typed, except secrets."""
    shown: dict[str, Any] = {}
    for top in fields:
        for f in top.walk():
            if f.widget == "group":
                continue
            if f.widget in ("password", "secrets"):
                shown[f.name] = _stored_count(lookup(stored, f.name))
            elif f.widget == "checkbox":
                shown[f.name] = "true" in form.all(f.name)
            elif f.widget == "checkboxes":
                shown[f.name] = form.all(f.name)
            else:
                shown[f.name] = form.first(f.name) or ""
    return shown


# ---- submitted form -> JSON body ---------------------------------------------------------------------

class FormValues:
    """The submitted form as name -> list of values (what Starlette's FormData.getlist gives)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for key, value in items:
            self._values.setdefault(key, []).append(value)

    def first(self, name: str) -> str | None:
        values = self._values.get(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return list(self._values.get(name, ()))


def _number(text: str, kind: str) -> Any:
    try:
        return int(text) if kind == "integer" else float(text)
    except ValueError:
        return text  # left as typed: the Admin API's schema says what is wrong with it


def _empty(f: FormField) -> Any:
    return None if f.nullable else UNSET


def _parse_password(f: FormField, form: FormValues, stored: Any) -> Any:
    """An empty (or absent) input keeps the stored secret; the Remove box clears it."""
    if form.first(CLEAR_PREFIX + f.name) is not None:
        return _empty(f)
    typed = form.first(f.name)
    if typed and typed.strip():
        return typed  # as typed: a secret may begin or end with a space
    if stored not in (None, ""):
        return stored
    return UNSET if typed is None else _empty(f)


def _parse_secrets(f: FormField, form: FormValues, stored: Any) -> Any:
    """One password input per secret: an empty input keeps the stored secret at its position."""
    kept = stored if isinstance(stored, list) else []
    cleared = set(form.all(CLEAR_PREFIX + f.name))
    if not form.all(f.name) and not cleared:
        return kept or UNSET
    values = []
    for index, typed in enumerate(form.all(f.name)):
        if str(index) in cleared:
            continue
        if typed.strip():
            values.append(typed)
        elif index < len(kept):
            values.append(kept[index])
    return values if values or not f.nullable else None


def _parse(f: FormField, form: FormValues, stored: Mapping[str, Any] | None, errors: dict[str, str]) -> Any:
    if f.widget == "group":
        nested = {c.key: v for c in f.children if (v := _parse(c, form, stored, errors)) is not UNSET}
        if f.nullable and all(v is None or v is False or v == [] for v in nested.values()):
            return None
        return nested
    if f.widget == "password":
        return _parse_password(f, form, lookup(stored, f.name))
    if f.widget == "secrets":
        return _parse_secrets(f, form, lookup(stored, f.name))
    submitted = form.all(f.name)
    if not submitted:
        return UNSET  # not in the form at all: not touched
    if f.widget == "checkbox":  # a hidden "" precedes the box, so an unchecked box still says "false"
        return "true" in submitted
    if f.widget == "checkboxes":
        chosen = [v for v in f.options if str(v) in submitted]
        return chosen if chosen or not f.nullable else None
    text = submitted[0].strip()
    if f.widget == "lines":
        items = [line.strip() for line in text.splitlines() if line.strip()]
        values = [_number(i, f.item_type) if f.item_type != "string" else i for i in items]
        return values if values or not f.nullable else None
    if not text:
        return _empty(f)
    if f.widget == "tristate":
        return {"true": True, "false": False}.get(text, text)
    if f.widget == "select":
        return next((v for v in f.options if str(v) == text), text)
    if f.widget == "number":
        return _number(text, f.number_type)
    if f.widget == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            errors[f.name] = f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            return UNSET
    return text


def parse_form(fields: Sequence[FormField], form: FormValues, stored: Mapping[str, Any] | None = None,
               errors: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON body for `fields` from a submitted form.

    Inputs missing from the form are left out (the schema default applies); empty ones are left
    out too, or null for nullable fields; an empty secret input keeps the value in `stored`. Values that do not convert (e.g. "abc" for an integer)
    are passed on as typed, for the Admin API to reject; only malformed JSON is reported in `errors`.
    A nullable nested object whose inputs are all empty is null.
    """
    errors = {} if errors is None else errors
    body: dict[str, Any] = {}
    for f in fields:
        value = _parse(f, form, stored, errors)
        if value is not UNSET:
            *parents, key = f.name.split(".")
            node = body
            for part in parents:  # "config.issuer" goes into body["config"]["issuer"]
                node = node.setdefault(part, {})
            node[key] = value
    return body


# ---- Admin API errors -> messages next to their inputs ----------------------------------------------

def flatten_errors(fields: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Kong's nested `fields` error object as {"config.issuer": "required field missing", ...}."""
    flat: dict[str, str] = {}
    for key, value in fields.items():
        path = f"{prefix}.{key}" if prefix and key != "@entity" else (prefix or str(key))
        if isinstance(value, Mapping):
            flat.update(flatten_errors(value, path))
        elif isinstance(value, list):
            text = "; ".join(str(v) for v in value if v is not None)
            flat[path] = f"{flat[path]}; {text}" if path in flat else text
        else:
            flat[path] = f"{flat[path]}; {value}" if path in flat else str(value)
    return flat


@dataclass
class FieldErrors:
    """Errors placed on the inputs they belong to; the rest are shown above the form."""

    by_field: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.by_field or self.general)


def place_errors(flat: Mapping[str, str], fields: Sequence[FormField]) -> FieldErrors:
    """Attach each error to the input it belongs to.

    An error on a value inside an input goes to that input ("config.scopes.1" -> Scopes). An error on
    a whole object ("config": "upstream_headers_claims and upstream_headers_names differ in length")
    goes to every input of that object its message names, and stays above the form when it names none.
    """
    inputs = [f for top in fields for f in top.walk() if f.widget != "group"]
    names = {f.name for f in inputs}
    placed = FieldErrors()

    def attach(name: str, message: str) -> None:
        existing = placed.by_field.get(name)
        placed.by_field[name] = f"{existing}; {message}" if existing else message

    for path, message in flat.items():
        parts = path.split(".")
        target = next((".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in names),
                      None)
        if target is not None:
            attach(target, message)
            continue
        scope = "" if path == "@entity" else path + "."
        named = [f for f in inputs if f.name.startswith(scope) and re.search(rf"\b{re.escape(f.key)}\b", message)]
        for f in named:
            attach(f.name, message)
        if not named:
            placed.general.append(f"{path}: {message}" if scope else message)
    return placed
