"""The `config` of the openid-connect plugin: Kong's field names, types, defaults and meanings.

Only what oidcgate implements is accepted. Kong values that are not built yet (`authorization_code`,
`session`, `password`, ... in `auth_methods`; `client_secret_jwt`, `tls_client_auth`, ... in
`client_auth`) are recognised and refused with "not supported yet", so a Kong configuration fails
loudly instead of silently doing less. Cross-field rules (arrays that must line up, credentials that
a method needs) report every problem at once, each at its own field.

Claim names (`*_claim`, `consumer_claim`) are paths, as in Kong: `["realm_access", "roles"]` reads
`claims["realm_access"]["roles"]`. `upstream_headers_claims` entries are top-level claim names.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    Field,
    ModelWrapValidatorHandler,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from oidcgate.config.types import REFERENCEABLE, HeaderName
from oidcgate.plugins.base import PluginConfig

DISCOVERY_SUFFIX = "/.well-known/openid-configuration"

# Kong's values, and the subset oidcgate implements today.
AuthMethod = Literal["password", "client_credentials", "authorization_code", "bearer", "introspection",
                     "userinfo", "kong_oauth2", "refresh_token", "session"]
ClientAuth = Literal["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt",
                     "tls_client_auth", "self_signed_tls_client_auth", "none"]
AUTH_METHODS_SUPPORTED = ("client_credentials", "bearer", "introspection")
CLIENT_AUTH_SUPPORTED = ("client_secret_basic", "client_secret_post", "private_key_jwt")
SECRET_CLIENT_AUTH = ("client_secret_basic", "client_secret_post")

# Header fields a plugin must never set from a claim: they frame the message or are the proxy's own
# (it writes X-Forwarded-*, X-Real-IP and Via itself; Proxy-* never crosses it).
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive",
                              "upgrade", "te", "trailer", "expect", "content-type", "via", "x-real-ip",
                              "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port",
                              "x-forwarded-path", "x-forwarded-prefix"})


def _reserved(name: str) -> bool:
    """Whether a header name (as sent: `_` goes out as `-`) is one the proxy manages."""
    folded = name.lower().replace("_", "-")
    return folded in RESERVED_HEADERS or folded.startswith("proxy-")
_HEADER_NAME: TypeAdapter[str] = TypeAdapter(HeaderName)
_SCOPE_TOKEN_RE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")  # RFC 6749 §3.3 scope-token
_ACCESS_TOKEN_HEADER_RE = re.compile(r"^(?P<name>[^:]+)(?::(?P<scheme>[^:]+))?$")


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"'{value}' is not an http(s) URL with a host")
    if parts.fragment or "#" in value:
        raise ValueError(f"'{value}' must not have a fragment")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"'{value}' has an invalid port") from None
    if any(c.isspace() for c in value):
        raise ValueError(f"'{value}' must not contain white space")
    return value


def _scope(value: str) -> str:
    if not _SCOPE_TOKEN_RE.match(value):
        raise ValueError(f"'{value}' is not a valid scope (RFC 6749 §3.3: printable ASCII, no space, "
                         "quote or backslash)")
    return value


def _required_entry(value: str) -> str:
    """One entry of a `*_required` list: values separated by spaces, all of which are required."""
    if not value.split():
        raise ValueError("must name at least one value (entries are space-separated values, all required)")
    return value


def _upstream_header(value: str) -> str:
    if _reserved(value):
        raise ValueError(f"'{value}' is managed by the proxy and cannot be set from a claim")
    return value


def _access_token_header(value: str) -> str:
    """Kong's `header[:bearer]` form, e.g. `authorization:bearer` sends `Authorization: Bearer <token>`."""
    match = _ACCESS_TOKEN_HEADER_RE.match(value)
    if not match:
        raise ValueError(f"'{value}' is not of the form 'header-name' or 'header-name:bearer'")
    scheme = match["scheme"]
    if scheme is not None and scheme.lower() != "bearer":
        raise ValueError(f"unknown scheme '{scheme}' in '{value}': only ':bearer' is supported")
    name = match["name"]
    _HEADER_NAME.validate_python(name)
    if _reserved(name):
        raise ValueError(f"'{name}' is managed by the proxy and cannot carry the token")
    return value


Url = Annotated[str, StringConstraints(min_length=1, max_length=2048), AfterValidator(_url)]
Scope = Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_scope)]
RequiredEntry = Annotated[str, StringConstraints(min_length=1, max_length=4096), AfterValidator(_required_entry)]
ClaimName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
ClaimPath = Annotated[list[ClaimName], Field(min_length=1, max_length=16)]
UpstreamHeaderName = Annotated[HeaderName, AfterValidator(_upstream_header)]
ParamType = Literal["header", "query", "body"]
ConsumerField = Literal["id", "username", "custom_id"]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=4096)]

_ALL_PARAM_TYPES: list[ParamType] = ["header", "query", "body"]


def _error(field: str, message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("value_error", message), loc=(field,), input=value)


class OpenIDConnectConfig(PluginConfig):
    """Configuration of the openid-connect plugin (Kong's `config` fields)."""

    issuer: Url = Field(description="The issuer URL of the identity provider, or its discovery document URL "
                                    "(`.../.well-known/openid-configuration`).")
    client_id: list[Secret] | None = Field(
        default=None, description="The plugin's own client id(s) at the identity provider, used to call the "
                                  "introspection endpoint (the first entry). Never lets a request through.",
        json_schema_extra=REFERENCEABLE)
    client_secret: list[Secret] | None = Field(
        default=None, description="The secret(s) for `client_id`, same order. Never echoed or logged.",
        json_schema_extra=REFERENCEABLE)
    client_auth: list[ClientAuth] | None = Field(
        default=None, description="How the plugin authenticates its own client at the provider: "
                                  "`client_secret_basic`, `client_secret_post` or `private_key_jwt` (same "
                                  "order as `client_id`). Default: what the provider's discovery document "
                                  "lists, preferring `client_secret_basic`.")
    client_jwk: list[dict[str, Any]] | None = Field(
        default=None, description="Private JWK(s) for `private_key_jwt` client authentication (RFC 7523), "
                                  "same order as `client_id`.")
    scopes: list[Scope] = Field(
        default_factory=lambda: ["openid"],
        description="Scopes requested with the client credentials grant. Kong's default is [\"openid\"], but "
                    "Okta and the embedded identity provider refuse `openid` for client credentials: set "
                    "the API's scopes (e.g. [\"orders:read\"]) or [] to get the client's default scopes.",
        json_schema_extra=REFERENCEABLE)
    auth_methods: list[AuthMethod] = Field(
        default_factory=lambda: list[AuthMethod](["client_credentials", "bearer", "introspection"]), min_length=1,
        description="Which authentication methods a request may use: `client_credentials`, `bearer`, "
                    "`introspection` (of opaque tokens; needs `client_id`). Kong's other values are not "
                    "supported yet.")
    client_credentials_param_type: list[ParamType] = Field(
        default_factory=lambda: list(_ALL_PARAM_TYPES), min_length=1,
        description="Where client credentials are looked for: `header` (Authorization: Basic), `query` and "
                    "`body` (form fields `client_id` and `client_secret`).")
    bearer_token_param_type: list[ParamType] = Field(
        default_factory=lambda: list(_ALL_PARAM_TYPES), min_length=1,
        description="Where a bearer token is looked for (RFC 6750 §2): `header` (Authorization: Bearer), "
                    "`query` (`access_token`) and `body` (form field `access_token`).")
    token_endpoint: Url | None = Field(default=None, description="Overrides the discovered token endpoint.")
    introspection_endpoint: Url | None = Field(
        default=None, description="Overrides the discovered introspection endpoint (RFC 7662).")
    introspection_hint: str = Field(default="access_token", min_length=1, max_length=64,
                                    description="The `token_type_hint` sent with introspection requests.")
    issuers_allowed: list[Url] | None = Field(
        default=None, description="The issuers accepted in the `iss` claim. Default: the configured issuer "
                                  "and the one its discovery document names.")
    audience_required: list[RequiredEntry] | None = Field(
        default=None, description="Required audiences: values separated by spaces within one entry are all "
                                  "required; any one entry suffices. A token that fails is invalid (401).")
    audience_claim: ClaimPath = Field(default_factory=lambda: ["aud"], description="Path of the audience claim.")
    scopes_required: list[RequiredEntry] | None = Field(
        default=None, description="Required scopes (AND within an entry, OR between entries); else 403.")
    scopes_claim: ClaimPath = Field(default_factory=lambda: ["scope"], description="Path of the scopes claim.")
    groups_required: list[RequiredEntry] | None = Field(
        default=None, description="Required groups (AND within an entry, OR between entries); else 403.")
    groups_claim: ClaimPath = Field(default_factory=lambda: ["groups"], description="Path of the groups claim.")
    authenticated_groups_claim: ClaimPath | None = Field(
        default=None, description="Path of the claim whose values are the authenticated groups, which the "
                                  "`acl` plugin checks (for a request without a consumer). Unset: none.")
    roles_required: list[RequiredEntry] | None = Field(
        default=None, description="Required roles (AND within an entry, OR between entries); else 403.")
    roles_claim: ClaimPath = Field(default_factory=lambda: ["roles"], description="Path of the roles claim.")
    upstream_headers_claims: list[ClaimName] | None = Field(
        default=None, description="Top-level claims sent to the upstream as headers (see "
                                  "`upstream_headers_names`). Strings as is, numbers and booleans as JSON, "
                                  "arrays of scalars joined by \", \", objects as compact JSON.")
    upstream_headers_names: list[UpstreamHeaderName] | None = Field(
        default=None, description="The header names for `upstream_headers_claims`, same order and length. "
                                  "An `_` is sent as `-` (`Issuer_Header` arrives as `Issuer-Header`).")
    upstream_access_token_header: Annotated[str, AfterValidator(_access_token_header)] | None = Field(
        default="authorization:bearer",
        description="Where the access token goes upstream: `header` or `header:bearer` (adds `Bearer `); "
                    "null to not send it.")
    hide_credentials: bool = Field(
        default=False, description="Remove the client's own credentials (Authorization header, "
                                   "`access_token`/`client_id`/`client_secret` query and form fields) before "
                                   "proxying.")
    consumer_claim: ClaimPath | None = Field(
        default=None, description="Path of the claim whose value names the consumer to attach.")
    consumer_by: list[ConsumerField] = Field(
        default_factory=lambda: list[ConsumerField](["username", "custom_id"]), min_length=1,
        description="Consumer fields matched against `consumer_claim`, in order.")
    consumer_optional: bool = Field(
        default=False, description="Let the request through when no consumer matches `consumer_claim`.")
    cache_ttl: int = Field(default=3600, ge=0, le=31536000,
                           description="Upper bound in seconds for cached tokens, verified tokens and "
                                       "introspection results (they are also never kept past their `exp`).")
    cache_ttl_neg: int = Field(default=10, ge=0, le=3600,
                               description="How long in seconds a refused client secret or an inactive "
                                           "introspected token is remembered, to spare the provider.")
    cache_tokens: bool = Field(default=True, description="Cache tokens obtained with client credentials.")
    cache_introspection: bool = Field(default=True, description="Cache introspection results.")
    rediscovery_lifetime: int = Field(
        default=30, ge=0, le=86400,
        description="Minimum seconds between two key refreshes triggered by an unknown `kid`.")
    leeway: int = Field(default=0, ge=0, le=3600,
                        description="Seconds of clock skew tolerated on `exp`, `nbf` and `iat`.")
    timeout: int = Field(default=10000, ge=1, le=600000,
                         description="Milliseconds allowed for each call to the identity provider.")
    ssl_verify: bool = Field(default=True, description="Verify the identity provider's TLS certificate.")
    extra_jwks_uris: list[Url] | None = Field(
        default=None, description="More JWKS URLs whose keys are trusted to sign tokens of this issuer.")
    unauthorized_error_message: str = Field(default="Unauthorized", min_length=1, max_length=512,
                                            description="The `message` of 401 responses.")
    forbidden_error_message: str = Field(default="Forbidden", min_length=1, max_length=512,
                                         description="The `message` of 403 responses.")

    @model_validator(mode="wrap")
    @classmethod
    def _every_error_at_once(cls, data: Any, handler: ModelWrapValidatorHandler[OpenIDConnectConfig]
                             ) -> OpenIDConnectConfig:
        """Field errors and cross-field errors in one report: pydantic alone would judge the rules
        between fields only once every field is valid, so a form would need two rounds of fixes."""
        try:
            config = handler(data)
        except ValidationError as exc:
            if not isinstance(data, dict):
                raise
            failed = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
            valid = {k: v for k, v in data.items() if k in cls.model_fields and k not in failed}
            cross = cls.model_construct(**valid)._cross_field_errors(skip=failed)
            if not cross:
                raise
            field_errors = [InitErrorDetails(type=PydanticCustomError(err["type"], err["msg"].replace("{", "{{")
                                                                      .replace("}", "}}")),
                                              loc=err["loc"], input=err["input"]) for err in exc.errors()]
            raise ValidationError.from_exception_data(cls.__name__, [*field_errors, *cross]) from None
        errors = config._cross_field_errors()
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return config

    def _cross_field_errors(self, skip: frozenset[str] | set[str] = frozenset()) -> list[InitErrorDetails]:
        """The rules between fields, each judged only when none of its fields failed on its own."""
        checks = ((self._check_methods, {"auth_methods", "client_auth"}),
                  (self._check_client, {"client_id", "client_secret", "client_auth", "client_jwk"}),
                  (self._check_headers, {"upstream_headers_claims", "upstream_headers_names"}),
                  (self._check_consumer, {"consumer_claim", "consumer_optional"}))
        return [error for check, fields in checks if not fields & skip for error in check()]

    def _check_consumer(self) -> list[InitErrorDetails]:
        if self.consumer_claim is None and self.consumer_optional:
            return [_error("consumer_optional", "requires consumer_claim", self.consumer_optional)]
        return []

    def _check_methods(self) -> list[InitErrorDetails]:
        unsupported = [m for m in self.auth_methods if m not in AUTH_METHODS_SUPPORTED]
        errors = []
        if unsupported:
            errors.append(_error("auth_methods", f"not supported yet: {', '.join(unsupported)} (supported: "
                                                 f"{', '.join(AUTH_METHODS_SUPPORTED)})", self.auth_methods))
        bad = [v for v in self.client_auth or [] if v not in CLIENT_AUTH_SUPPORTED]
        if bad:
            errors.append(_error("client_auth", f"not supported yet: {', '.join(bad)} (supported: "
                                                f"{', '.join(CLIENT_AUTH_SUPPORTED)})", self.client_auth))
        return errors

    def _check_client(self) -> list[InitErrorDetails]:
        """The plugin's own client: the arrays line up and each method has what it needs."""
        errors = []
        ids = self.client_id or []
        secrets = self.client_secret or []
        methods = self.client_auth or []
        jwks = self.client_jwk or []
        if methods and len(methods) != len(ids):
            errors.append(_error("client_auth", f"has {len(methods)} entries but client_id has {len(ids)}",
                                 methods))
        for index in range(len(ids)):
            method = methods[index] if index < len(methods) else None
            if method == "private_key_jwt":
                if index >= len(jwks):
                    errors.append(_error("client_jwk", f"entry {index} is needed for private_key_jwt", jwks))
            elif index >= len(secrets):
                errors.append(_error("client_secret", f"entry {index} is missing for client_id[{index}]",
                                     "***"))
        if len(secrets) > len(ids):
            errors.append(_error("client_secret", f"has {len(secrets)} entries but client_id has {len(ids)}",
                                 "***"))
        for index, jwk in enumerate(jwks):
            problem = _private_jwk_problem(jwk)
            if problem:
                errors.append(_error("client_jwk", f"entry {index}: {problem}", "***"))
        return errors

    def _check_headers(self) -> list[InitErrorDetails]:
        claims = self.upstream_headers_claims or []
        names = self.upstream_headers_names or []
        errors = []
        if len(claims) != len(names):
            errors.append(_error("upstream_headers_names", f"has {len(names)} entries but "
                                 f"upstream_headers_claims has {len(claims)}; they must pair up", names))
        lowered = [n.lower().replace("_", "-") for n in names]
        duplicates = sorted({n for n in names if lowered.count(n.lower().replace("_", "-")) > 1})
        if duplicates:
            errors.append(_error("upstream_headers_names", f"names the same header twice: "
                                                           f"{', '.join(duplicates)}", names))
        return errors

    @property
    def discovery_url(self) -> str:
        """Where the discovery document is: the issuer itself if it is one, else under it."""
        if self.issuer.rstrip("/").endswith(DISCOVERY_SUFFIX):
            return self.issuer
        return self.issuer.rstrip("/") + DISCOVERY_SUFFIX

    @property
    def issuer_url(self) -> str:
        """The configured issuer without the discovery suffix."""
        return self.issuer.rstrip("/").removesuffix(DISCOVERY_SUFFIX)


def _private_jwk_problem(jwk: dict[str, Any]) -> str | None:
    """Why `jwk` cannot sign a client assertion (RFC 7523 needs a private asymmetric key), or None."""
    from joserfc.errors import JoseError
    from joserfc.jwk import JWKRegistry

    kty = jwk.get("kty")
    if kty not in ("RSA", "EC", "OKP"):
        return "must be an RSA, EC or OKP key (kty)"
    try:
        key = JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, TypeError):
        return "is not a valid JWK"
    if not key.is_private:
        return "must be a private key"
    return None
