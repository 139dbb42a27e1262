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
from oidcgate.oidc import DISCOVERY_SUFFIX
from oidcgate.plugins.base import PluginConfig
from oidcgate.plugins.openid_connect.cluster_cache import ClusterCacheRedis
from oidcgate.plugins.openid_connect.session.config import (
    STORAGES_SUPPORTED,
    CookieDomain,
    CookieName,
    CookiePath,
    QueryArgName,
    QueryArgValue,
    SameSite,
    SessionRedis,
    SessionStorage,
)

# Kong's values, and the subset oidcgate implements today.
AuthMethod = Literal["password", "client_credentials", "authorization_code", "bearer", "introspection",
                     "userinfo", "kong_oauth2", "refresh_token", "session"]
ClientAuth = Literal["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt",
                     "tls_client_auth", "self_signed_tls_client_auth", "none"]
AUTH_METHODS_SUPPORTED = ("client_credentials", "bearer", "introspection", "authorization_code", "session",
                          "refresh_token")
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
    bearer_token_typ_jwt_allowed: bool = Field(
        default=False,
        description="Also accept bearer JWTs whose `typ` header is the generic `JWT`, or absent, as Okta, Keycloak, "
                    "Auth0 and Entra ID issue them; RFC 9068 access tokens (`at+jwt`) are always accepted. ID "
                    "tokens stay refused (`nonce`, `at_hash`, `c_hash`), but set `audience_required` too: an ID "
                    "token's audience is a client app, an access token's is the API.")
    consumer_claim: ClaimPath | None = Field(
        default=None, description="Path of the claim whose value names the consumer to attach.")
    consumer_by: list[ConsumerField] = Field(
        default_factory=lambda: list[ConsumerField](["username", "custom_id"]), min_length=1,
        description="Consumer fields matched against `consumer_claim`, in order.")
    consumer_optional: bool = Field(
        default=False, description="Let the request through when no consumer matches `consumer_claim`.")
    by_username_ignore_case: bool = Field(
        default=False, description="With `username` in `consumer_by`: match usernames in any case (an exact match "
                                   "first, else the oldest consumer).")
    consumer_groups_claim: ClaimPath | None = Field(
        default=None, description="Path of the claim whose values name consumer groups: the request's consumer "
                                  "groups (for consumer-group-scoped plugins and acl's `include_consumer_groups`), "
                                  "with or without a consumer, instead of the consumer's own.")
    consumer_groups_optional: bool = Field(
        default=False, description="Let the request through when no consumer group matches "
                                   "`consumer_groups_claim` (it keeps the consumer's own groups); else 403.")
    credential_claim: ClaimPath = Field(
        default_factory=lambda: ["sub"],
        description="Path of the claim that identifies the credential (`X-Credential-Identifier`, rate limits by "
                    "credential); a token without it is identified by its `client_id`.")
    anonymous: str | None = Field(
        default=None, min_length=1, max_length=256,
        description="A consumer (id or username) to let the request through as when authentication fails (401 "
                    "or 403): upstream it is `X-Anonymous-Consumer: true`. Unset: the request is refused.")
    claims_forbidden: list[ClaimName] | None = Field(
        default=None, description="Claims a token must not have: one of them present refuses it (401).")
    cache_ttl: int = Field(default=3600, ge=0, le=31536000,
                           description="Upper bound in seconds for cached tokens, verified tokens and "
                                       "introspection results (they are also never kept past their `exp`).")
    cache_ttl_neg: int = Field(default=10, ge=0, le=3600,
                               description="How long in seconds a refused client secret or an inactive "
                                           "introspected token is remembered, to spare the provider.")
    cache_tokens: bool = Field(default=True, description="Cache tokens obtained with client credentials.")
    cache_introspection: bool = Field(
        default=True, description="Cache introspection results; false asks the provider on every request.")
    introspect_jwt_tokens: bool = Field(
        default=False, description="Also check bearer JWTs at the introspection endpoint (needs `client_id`), so "
                                   "that a revoked token is refused; at once with `cache_introspection: false`.")
    introspection_check_active: bool = Field(
        default=True, description="Require a boolean `active` in introspection responses. False also accepts a "
                                  "response without one (`active: false` is always refused).")
    cluster_cache_strategy: Literal["off", "redis"] = Field(
        default="off", description="`redis`: share client-credentials tokens and introspection results with every "
                                   "worker of every data plane (encrypted with keys from `session_secret`, which "
                                   "it needs); `off`: each worker caches its own.")
    cluster_cache_redis: ClusterCacheRedis = Field(
        default_factory=lambda: ClusterCacheRedis.model_validate({}),
        description="Where `cluster_cache_strategy: redis` keeps its entries (Kong's redis object).")
    rediscovery_lifetime: int = Field(
        default=30, ge=0, le=86400,
        description="Minimum seconds between two key refreshes triggered by an unknown `kid` (never less than 5, "
                    "whatever this says).")
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

    # Browser sign-in: the authorization code flow (auth_methods `authorization_code`), sessions, logout.
    redirect_uri: list[Url] | None = Field(
        default=None, description="Where the provider sends the browser back (the first entry). Default: the "
                                  "request's URL without its query, so the callback comes to the route itself.")
    require_proof_key_for_code_exchange: bool | None = Field(
        default=None, description="PKCE (S256): true always, false never; null: when the discovery document "
                                  "lists S256 in `code_challenge_methods_supported`.")
    authorization_query_args_names: list[QueryArgName] | None = Field(
        default=None, description="Extra query arguments of the authorization request (names), e.g. `prompt`.")
    authorization_query_args_values: list[QueryArgValue] | None = Field(
        default=None, description="Their values, same order and length.")
    authorization_cookie_name: CookieName = Field(
        default="authorization", description="The short-lived, encrypted cookie that holds state, nonce and "
                                             "PKCE verifier between the redirect and the callback.")
    authorization_cookie_path: CookiePath = Field(default="/", description="Path of the authorization cookie.")
    authorization_cookie_domain: CookieDomain | None = Field(default=None,
                                                             description="Domain of the authorization cookie.")
    authorization_cookie_same_site: SameSite = Field(
        default="Lax", description="SameSite of the authorization cookie; it must come back with the "
                                   "provider's redirect, which `Strict` prevents.")
    authorization_cookie_http_only: bool = Field(default=True, description="HttpOnly authorization cookie.")
    authorization_cookie_secure: bool | None = Field(
        default=None, description="Secure authorization cookie; null: when the request came over https.")
    authorization_rolling_timeout: int = Field(
        default=600, ge=1, le=86400, description="Seconds a sign-in may take, from redirect to callback.")
    session_secret: Secret | None = Field(
        default=None, json_schema_extra=REFERENCEABLE, description="The secret the session keys derive from (HKDF-SHA256 → AES-256-GCM); "
                                  "accepts {vault://env/...}. Every data plane sharing sessions needs the same. "
                                  "Null: a single node generates one and keeps it in its prefix. The cluster "
                                  "cache's keys derive from it too.")
    session_cookie_name: CookieName = Field(default="session", description="Name of the session cookie.")
    session_cookie_path: CookiePath = Field(default="/", description="Path of the session cookie.")
    session_cookie_domain: CookieDomain | None = Field(default=None, description="Domain of the session cookie.")
    session_cookie_same_site: SameSite = Field(default="Lax", description="SameSite of the session cookie.")
    session_cookie_http_only: bool = Field(default=True, description="HttpOnly session cookie.")
    session_cookie_secure: bool | None = Field(
        default=None, description="Secure session cookie; null: when the request came over https.")
    session_idling_timeout: int = Field(default=900, ge=0, le=31536000,
                                        description="Seconds without a request before a session ends (0: none).")
    session_rolling_timeout: int = Field(
        default=3600, ge=0, le=31536000,
        description="Seconds a session lives without being renewed; a token refresh renews it (0: none).")
    session_absolute_timeout: int = Field(default=86400, ge=0, le=31536000,
                                          description="Seconds a session lives at most, whatever happens (0: none).")
    session_storage: SessionStorage = Field(
        default="cookie", description="`cookie`: the session, encrypted, in the cookie (chunked above 4,000 "
                                      "bytes); `redis`: in Redis, the cookie holding only an opaque id.")
    redis: SessionRedis = Field(default_factory=lambda: SessionRedis.model_validate({}),
                                description="Where `session_storage: redis` keeps sessions (Kong's redis object).")
    refresh_tokens: bool = Field(
        default=True, description="Refresh a session's expired access token with its refresh token (needs "
                                  "`refresh_token` in auth_methods); else the browser signs in again.")
    logout_uri_suffix: str | None = Field(
        default=None, min_length=1, max_length=1024,
        description="A request whose path ends with this (and whose method is in `logout_methods`) signs out.")
    logout_methods: list[Literal["POST", "GET", "DELETE"]] = Field(
        default_factory=lambda: list[Literal["POST", "GET", "DELETE"]](["POST", "DELETE"]), min_length=1,
        description="The methods of a logout request.")
    logout_query_arg: QueryArgName | None = Field(
        default=None, description="A query argument that makes a request a logout request.")
    logout_post_arg: QueryArgName | None = Field(
        default=None, description="A form field that makes a POST a logout request.")
    logout_redirect_uri: Url | None = Field(
        default=None, description="Where the browser goes after logout (sent to the provider as "
                                  "`post_logout_redirect_uri` when it has an end_session_endpoint).")
    logout_revoke: bool = Field(default=False, description="Revoke the session's tokens at logout (RFC 7009).")
    logout_revoke_access_token: bool = Field(default=True, description="With logout_revoke: the access token.")
    logout_revoke_refresh_token: bool = Field(default=True, description="With logout_revoke: the refresh token.")
    upstream_id_token_header: UpstreamHeaderName | None = Field(
        default=None, description="A header that carries the session's ID token upstream.")
    upstream_user_info_header: UpstreamHeaderName | None = Field(
        default=None, description="A header that carries the user's userinfo upstream (base64url of its JSON; "
                                  "fetched once per session).")

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
                  (self._check_consumer, {"consumer_claim", "consumer_optional", "consumer_groups_claim",
                                          "consumer_groups_optional"}),
                  (self._check_shared, {"client_id", "introspect_jwt_tokens", "cluster_cache_strategy",
                                        "session_secret"}),
                  (self._check_browser, {"auth_methods", "client_id", "session_storage",
                                         "authorization_query_args_names", "authorization_query_args_values"}))
        return [error for check, fields in checks if not fields & skip for error in check()]

    def _check_browser(self) -> list[InitErrorDetails]:
        """Browser sign-in needs the plugin's own client, a way back in (sessions) and a storage built here."""
        errors = []
        methods = set(self.auth_methods)
        if "authorization_code" in methods and not self.client_id:
            errors.append(_error("client_id", "is required by the authorization_code method", None))
        if "authorization_code" in methods and "session" not in methods:
            errors.append(_error("auth_methods", "authorization_code needs session: without it a signed-in "
                                                 "browser would be sent to sign in again, forever", self.auth_methods))
        if self.session_storage not in STORAGES_SUPPORTED:
            errors.append(_error("session_storage", f"not supported yet: {self.session_storage} (supported: "
                                                    f"{', '.join(STORAGES_SUPPORTED)})", self.session_storage))
        names = self.authorization_query_args_names or []
        values = self.authorization_query_args_values or []
        if len(names) != len(values):
            errors.append(_error("authorization_query_args_values", f"has {len(values)} entries but "
                                 f"authorization_query_args_names has {len(names)}; they must pair up", values))
        return errors

    @property
    def browser_sign_in(self) -> bool:
        """Whether this configuration serves browsers: sessions, and the code flow when enabled."""
        return "session" in self.auth_methods

    def _check_consumer(self) -> list[InitErrorDetails]:
        errors = []
        if self.consumer_claim is None and self.consumer_optional:
            errors.append(_error("consumer_optional", "requires consumer_claim", self.consumer_optional))
        if self.consumer_groups_claim is None and self.consumer_groups_optional:
            errors.append(_error("consumer_groups_optional", "requires consumer_groups_claim",
                                 self.consumer_groups_optional))
        return errors

    def _check_shared(self) -> list[InitErrorDetails]:
        """What introspecting JWTs and the cluster cache need from elsewhere in the config."""
        errors = []
        if self.introspect_jwt_tokens and not self.client_id:
            errors.append(_error("client_id", "is required by introspect_jwt_tokens (the plugin's own client calls "
                                              "the introspection endpoint)", None))
        if self.cluster_cache_strategy == "redis" and self.session_secret is None:
            errors.append(_error("session_secret", "is required by cluster_cache_strategy redis: every data plane "
                                                   "must derive the same cache keys from it", None))
        return errors

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
