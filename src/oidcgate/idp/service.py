"""Management API: authorization servers, clients, users, scopes and key rotation.

One code path for the `oidcgate idp` CLI, the REST admin API and other parts of oidcgate::

    from oidcgate.idp import service
    store = service.open_store("sqlite:///.oidcgate-demo/idp.db")
    created = service.create_client(store, service.ClientSpec(
        name="orders-api", grant_types=["client_credentials"], scopes=["orders:read"]))
    created.client_id, created.client_secret  # the secret is shown this once
    service.create_user(store, service.UserSpec(username="alice", password="...", groups=["admins"]))

Input is validated by the pydantic specs below, which report every problem at once.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import string
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from oidcgate.idp.grants import GRANT_TYPES
from oidcgate.idp.hashing import SecretHasher
from oidcgate.idp.protocol.oidc_core import STANDARD_SCOPES
from oidcgate.idp.protocol.rfc6749_grants import AUTHORIZATION_CODE, CLIENT_CREDENTIALS, REFRESH_TOKEN
from oidcgate.idp.protocol.rfc6749_requests import is_scope_token
from oidcgate.idp.protocol.rfc7523_client_assertion import load_client_keys
from oidcgate.idp.settings import DEFAULT_SERVER_ID
from oidcgate.idp.storage import keys
from oidcgate.idp.storage.store import AuthServer, Client, Scope, Store, User

AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
SigningAlg = Literal["RS256", "ES256"]
_ALPHANUMERIC = string.ascii_letters + string.digits


def _registered_grant(grant_type: str) -> str:
    """A grant the token endpoint serves (`grants.DEFAULT_GRANTS`), refused as pydantic refuses a Literal."""
    if grant_type not in GRANT_TYPES:
        expected = " or ".join((", ".join(repr(g) for g in GRANT_TYPES[:-1]), repr(GRANT_TYPES[-1])))
        raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
    return grant_type


GrantType = Annotated[str, AfterValidator(_registered_grant)]


class ServiceError(ValueError):
    """A request the management API refuses; the message says why."""


class NotFound(ServiceError):
    pass


class Conflict(ServiceError):
    pass


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


def validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Build a spec, turning every validation problem into one ServiceError message."""
    if _has_nul(data):
        raise ServiceError("text must not contain NUL characters")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}" for error in exc.errors()]
        raise ServiceError("; ".join(problems)) from exc


def _random_id(prefix: str) -> str:
    """Okta-shaped ids: a type prefix and 17 random alphanumerics."""
    return prefix + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(17))


def _check_uri(uri: str) -> str:
    parts = urlsplit(uri)
    if not parts.scheme or not (parts.netloc or parts.path) or parts.fragment:
        raise ValueError(f"{uri!r} is not an absolute URI without a fragment")
    return uri


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSpec(_Spec):
    """An authorization server, served at `/oauth2/{id}`."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    audience: str | None = Field(default=None, min_length=1, max_length=400)  # default api://{id}
    access_token_lifetime: int = Field(default=3600, ge=1, le=86400)
    id_token_lifetime: int = Field(default=3600, ge=1, le=86400)
    refresh_token_lifetime: int = Field(default=30 * 86400, ge=60, le=365 * 86400)
    code_lifetime: int = Field(default=60, ge=1, le=600)
    signing_alg: SigningAlg = "RS256"


class ServerUpdate(_Spec):
    audience: str | None = Field(default=None, min_length=1, max_length=400)
    access_token_lifetime: int | None = Field(default=None, ge=1, le=86400)
    id_token_lifetime: int | None = Field(default=None, ge=1, le=86400)
    refresh_token_lifetime: int | None = Field(default=None, ge=60, le=365 * 86400)
    code_lifetime: int | None = Field(default=None, ge=1, le=600)


class ClientSpec(_Spec):
    name: str = Field(min_length=1, max_length=200)
    grant_types: list[GrantType] = Field(min_length=1)
    scopes: list[str] = Field(default_factory=list)
    redirect_uris: list[str] = Field(default_factory=list)
    post_logout_redirect_uris: list[str] = Field(default_factory=list)
    token_endpoint_auth_method: AuthMethod = "client_secret_basic"
    jwks: dict[str, Any] | None = None  # public keys, for private_key_jwt
    first_party: bool = True  # third-party clients get a consent page

    @field_validator("scopes")
    @classmethod
    def _scope_tokens(cls, scopes: list[str]) -> list[str]:
        bad = [scope for scope in scopes if not is_scope_token(scope)]
        if bad:
            raise ValueError(f"not valid scope names: {bad}")
        return list(dict.fromkeys(scopes))

    @field_validator("redirect_uris", "post_logout_redirect_uris")
    @classmethod
    def _uris(cls, uris: list[str]) -> list[str]:
        return [_check_uri(uri) for uri in uris]

    @field_validator("jwks")
    @classmethod
    def _public_keys(cls, jwks: dict[str, Any] | None) -> dict[str, Any] | None:
        if jwks is None:
            return None
        try:
            public = load_client_keys(jwks)
        except Exception as exc:  # joserfc raises several types for malformed key sets
            raise ValueError(f"not a usable JWK set: {exc}") from exc
        if not list(public):
            raise ValueError("the JWK set has no keys")
        return dict(public.as_dict())

    @model_validator(mode="after")
    def _consistent(self) -> ClientSpec:
        problems = []
        grants = set(self.grant_types)
        if AUTHORIZATION_CODE in grants and not self.redirect_uris:
            problems.append("authorization_code needs at least one redirect URI")
        if REFRESH_TOKEN in grants and AUTHORIZATION_CODE not in grants:
            problems.append("refresh_token is only issued with authorization_code")
        if self.token_endpoint_auth_method == "private_key_jwt" and self.jwks is None:
            problems.append("private_key_jwt needs the client's public keys (jwks)")
        if self.token_endpoint_auth_method != "private_key_jwt" and self.jwks is not None:
            problems.append("jwks is only used with private_key_jwt")
        if self.token_endpoint_auth_method == "none" and CLIENT_CREDENTIALS in grants:
            problems.append("client_credentials needs a confidential client (not auth method none)")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class UserSpec(_Spec):
    username: str = Field(pattern=r"^\S{1,200}$")
    password: str = Field(min_length=8, max_length=1024)
    groups: list[str] = Field(default_factory=list)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)

    @field_validator("groups")
    @classmethod
    def _group_names(cls, groups: list[str]) -> list[str]:
        if any(not re.fullmatch(r"[^\s,]{1,200}", group) for group in groups):
            raise ValueError("group names are non-empty, without spaces or commas")
        return list(dict.fromkeys(groups))


class ScopeSpec(_Spec):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=1000)

    @field_validator("name")
    @classmethod
    def _scope_token(cls, name: str) -> str:
        if not is_scope_token(name):
            raise ValueError("not a valid scope name (RFC 6749 §3.3)")
        return name


@dataclass(frozen=True)
class CreatedClient:
    client_id: str
    client_secret: str | None  # shown once; only its argon2 hash is stored
    client: dict[str, Any]


# Views: what the CLI and REST API show (never a hash or a private key).

def client_view(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id, "name": client.name,
        "token_endpoint_auth_method": client.auth_method, "grant_types": client.grant_types,
        "scopes": client.scopes, "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris, "jwks": client.jwks,
        "first_party": client.first_party, "created_at": client.created_at,
    }


def user_view(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "groups": user.groups, "name": user.name,
            "email": user.email, "created_at": user.created_at}


def scope_view(scope: Scope) -> dict[str, Any]:
    return {"name": scope.name, "description": scope.description, "created_at": scope.created_at}


def server_view(server: AuthServer) -> dict[str, Any]:
    return {"id": server.id, "audience": server.audience, "access_token_lifetime": server.access_token_lifetime,
            "id_token_lifetime": server.id_token_lifetime, "refresh_token_lifetime": server.refresh_token_lifetime,
            "code_lifetime": server.code_lifetime, "signing_alg": server.signing_alg, "created_at": server.created_at}


# Authorization servers and keys.

def open_store(database_url: str) -> Store:
    """Open (creating tables if needed) a store that has the `default` authorization server."""
    store = Store(database_url)
    if store.get(AuthServer, DEFAULT_SERVER_ID) is None:
        with contextlib.suppress(Conflict):  # another process created it first
            create_server(store, ServerSpec(id=DEFAULT_SERVER_ID))
    return store


def create_server(store: Store, spec: ServerSpec) -> dict[str, Any]:
    now = int(time.time())
    server = AuthServer(id=spec.id, audience=spec.audience or f"api://{spec.id}",
                        access_token_lifetime=spec.access_token_lifetime, id_token_lifetime=spec.id_token_lifetime,
                        refresh_token_lifetime=spec.refresh_token_lifetime, code_lifetime=spec.code_lifetime,
                        signing_alg=spec.signing_alg, created_at=now)
    if not store.add(server):
        raise Conflict(f"authorization server {spec.id!r} exists")
    store.add(keys.new_row(spec.id, spec.signing_alg, now))
    return server_view(server)


def get_server(store: Store, server_id: str) -> AuthServer:
    server = store.get(AuthServer, server_id)
    if server is None:
        raise NotFound(f"no authorization server {server_id!r}")
    return server


def update_server(store: Store, server_id: str, changes: ServerUpdate) -> dict[str, Any]:
    server = get_server(store, server_id)
    for name, value in changes.model_dump(exclude_none=True).items():
        setattr(server, name, value)
    return server_view(store.merge(server))


def list_servers(store: Store) -> list[dict[str, Any]]:
    return [server_view(server) for server in store.all(AuthServer, AuthServer.created_at)]


def delete_server(store: Store, server_id: str) -> None:
    if server_id == DEFAULT_SERVER_ID:
        raise ServiceError("the default authorization server cannot be deleted")
    if not store.delete_server(server_id):
        raise NotFound(f"no authorization server {server_id!r}")


def rotate_keys(store: Store, server_id: str = DEFAULT_SERVER_ID, alg: SigningAlg | None = None) -> dict[str, Any]:
    """Publish a new signing key; the previous one stays published until its tokens have expired."""
    server = get_server(store, server_id)
    if alg is not None and alg != server.signing_alg:
        server.signing_alg = alg
        server = store.merge(server)
    now = int(time.time())
    publish_until = now + keys.retired_key_lifetime(server)
    new_key = keys.new_row(server_id, server.signing_alg, now)
    store.replace_active_key(server_id, new_key, now, publish_until)
    return {"server_id": server_id, "kid": new_key.kid, "alg": new_key.alg, "previous_keys_published_until": publish_until}


def list_keys(store: Store, server_id: str = DEFAULT_SERVER_ID) -> list[dict[str, Any]]:
    get_server(store, server_id)
    return [{"kid": row.kid, "alg": row.alg, "created_at": row.created_at, "retired_at": row.retired_at,
             "publish_until": row.publish_until} for row in store.keys(server_id)]


# Clients.

def create_client(store: Store, spec: ClientSpec, hasher: SecretHasher | None = None) -> CreatedClient:
    """Register a client. Confidential clients with a secret method get a secret, returned only here."""
    now = int(time.time())
    secret = None
    if spec.token_endpoint_auth_method in ("client_secret_basic", "client_secret_post"):
        secret = secrets.token_urlsafe(32)
    client = Client(
        client_id=_random_id("0oa"), name=spec.name, auth_method=spec.token_endpoint_auth_method,
        secret_hash=(hasher or SecretHasher()).hash(secret) if secret else None,
        grant_types=list(spec.grant_types), scopes=spec.scopes, redirect_uris=spec.redirect_uris,
        post_logout_redirect_uris=spec.post_logout_redirect_uris, jwks=spec.jwks, first_party=spec.first_party,
        created_at=now,
    )
    store.ensure_scopes([scope for scope in spec.scopes if scope not in STANDARD_SCOPES], now)
    if not store.add(client):
        raise Conflict("client id collision; try again")
    return CreatedClient(client.client_id, secret, client_view(client))


def get_client(store: Store, client_id: str) -> dict[str, Any]:
    client = store.get(Client, client_id)
    if client is None:
        raise NotFound(f"no client {client_id!r}")
    return client_view(client)


def list_clients(store: Store) -> list[dict[str, Any]]:
    return [client_view(client) for client in store.all(Client, Client.created_at)]


def delete_client(store: Store, client_id: str) -> None:
    if not store.delete_client(client_id):
        raise NotFound(f"no client {client_id!r}")


# Users.

def create_user(store: Store, spec: UserSpec, hasher: SecretHasher | None = None) -> dict[str, Any]:
    user = User(id=_random_id("00u"), username=spec.username,
                password_hash=(hasher or SecretHasher()).hash(spec.password), groups=spec.groups,
                name=spec.name, email=spec.email, created_at=int(time.time()))
    if not store.add(user):
        raise Conflict(f"user {spec.username!r} exists")
    return user_view(user)


def find_user(store: Store, id_or_username: str) -> User:
    user = store.get(User, id_or_username) or store.user_by_username(id_or_username)
    if user is None:
        raise NotFound(f"no user {id_or_username!r}")
    return user


def list_users(store: Store) -> list[dict[str, Any]]:
    return [user_view(user) for user in store.all(User, User.created_at)]


def delete_user(store: Store, id_or_username: str) -> None:
    store.delete_user(find_user(store, id_or_username).id)


# Scopes.

def create_scope(store: Store, spec: ScopeSpec) -> dict[str, Any]:
    scope = Scope(name=spec.name, description=spec.description, created_at=int(time.time()))
    if not store.add(scope):
        raise Conflict(f"scope {spec.name!r} exists")
    return scope_view(scope)


def list_scopes(store: Store) -> list[dict[str, Any]]:
    return [scope_view(scope) for scope in store.all(Scope, Scope.name)]


def delete_scope(store: Store, name: str) -> None:
    if not store.delete_scope(name):
        raise NotFound(f"no scope {name!r}")
