"""`oidcgate idp ...`: run the identity provider and manage its clients, users, scopes, servers and keys.

Every option also reads `OIDCGATE_IDP_<OPTION>` (e.g. OIDCGATE_IDP_DATABASE, OIDCGATE_IDP_ADMIN_TOKEN).
Heavy imports happen inside the handlers so that `oidcgate --help` stays instant.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from pathlib import Path
from typing import Any

SERVE_HELP = "run the identity provider (the default when no subcommand is given)"


def _words(value: str) -> list[str]:
    """A list given as 'a b', 'a,b' or 'a, b'."""
    return [word for word in re.split(r"[\s,]+", value) if word]


def _add_store_options(parser: argparse.ArgumentParser, inherited: bool) -> None:
    # Options repeated on subcommands must not overwrite the parent's values with their defaults.
    default = argparse.SUPPRESS if inherited else None
    parser.add_argument("--database", default=default, metavar="URL",
                        help="sqlite:///PATH or postgresql+psycopg://... (default: sqlite:///<prefix>/idp.db)")
    parser.add_argument("--prefix", default=default, metavar="DIR", help="state directory (default: ./.oidcgate-idp)")


def _add_serve_options(parser: argparse.ArgumentParser, inherited: bool) -> None:
    default = argparse.SUPPRESS if inherited else None
    _add_store_options(parser, inherited)
    parser.add_argument("--listen", default=default, metavar="HOST:PORT", help="default: 127.0.0.1:9000")
    parser.add_argument("--issuer-url", default=default, metavar="URL",
                        help="public base URL when behind a proxy; issuers are <URL>/oauth2/<server-id>")
    parser.add_argument("--admin-token", default=default, metavar="TOKEN",
                        help="enable the REST admin API (Authorization: SSWS <token>)")
    parser.add_argument("--forwarded-allow-ips", default=default, metavar="ADDRESSES",
                        help="reverse proxies whose X-Forwarded-For is trusted (comma-separated, '*' for any); "
                             "default: none, the peer address is the client's")
    parser.add_argument("--tls-cert", default=default, metavar="PEM", help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", default=default, metavar="PEM", help="the private key of --tls-cert")


def _leaf(subparsers: Any, name: str, handler: Any, help_text: str, json_output: bool = True) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help_text, description=help_text)
    _add_store_options(parser, inherited=True)
    if json_output:
        parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=handler)
    return parser


def register(subparsers: Any) -> None:
    idp = subparsers.add_parser("idp", help="the embedded OpenID Connect identity provider",
                                description="The embedded OpenID Connect identity provider. " + SERVE_HELP + ".")
    _add_serve_options(idp, inherited=False)
    idp.set_defaults(handler=_serve)
    commands = idp.add_subparsers(dest="idp_command", metavar="SUBCOMMAND")

    serve = commands.add_parser("serve", help=SERVE_HELP, description=SERVE_HELP)
    _add_serve_options(serve, inherited=True)
    serve.set_defaults(handler=_serve)

    client = commands.add_parser("client", help="OAuth clients").add_subparsers(dest="client_command", required=True)
    create = _leaf(client, "create", _client_create, "register a client; prints its id and, once, its secret")
    create.add_argument("--name", required=True)
    create.add_argument("--grant-types", required=True, type=_words,
                        help="client_credentials, authorization_code, refresh_token (space or comma separated)")
    create.add_argument("--scopes", type=_words, default=[], help='scopes granted, e.g. "orders:read orders:write"')
    create.add_argument("--redirect-uri", action="append", default=[], help="repeat for several")
    create.add_argument("--post-logout-redirect-uri", action="append", default=[], help="repeat for several")
    create.add_argument("--auth-method", default="client_secret_basic",
                        choices=["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])
    create.add_argument("--jwks-file", type=Path, help="the client's public keys (JWKS, JWK or PEM) for private_key_jwt")
    create.add_argument("--third-party", action="store_true", help="ask users for consent")
    _leaf(client, "list", _client_list, "list clients")
    delete = _leaf(client, "delete", _client_delete, "delete a client and its tokens", json_output=False)
    delete.add_argument("client_id")

    user = commands.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    create = _leaf(user, "create", _user_create, "create a user")
    create.add_argument("--username", required=True)
    create.add_argument("--password", help="asked for when omitted (or read from stdin when it is not a terminal)")
    create.add_argument("--groups", type=_words, default=[], help="comma separated, e.g. admins,users")
    create.add_argument("--name")
    create.add_argument("--email")
    _leaf(user, "list", _user_list, "list users")
    delete = _leaf(user, "delete", _user_delete, "delete a user (by id or username)", json_output=False)
    delete.add_argument("user")

    scope = commands.add_parser("scope", help="scopes").add_subparsers(dest="scope_command", required=True)
    create = _leaf(scope, "create", _scope_create, "create a scope")
    create.add_argument("name")
    create.add_argument("--description", default="")
    _leaf(scope, "list", _scope_list, "list scopes")
    delete = _leaf(scope, "delete", _scope_delete, "delete a scope", json_output=False)
    delete.add_argument("name")

    server = commands.add_parser("server", help="authorization servers (issuers /oauth2/<id>)").add_subparsers(
        dest="server_command", required=True)
    for name, handler, help_text in (("create", _server_create, "create an authorization server"),
                                     ("update", _server_update, "change an authorization server")):
        parser = _leaf(server, name, handler, help_text)
        parser.add_argument("id")
        parser.add_argument("--audience", help="aud of its access tokens (default api://<id>)")
        for option in ("access-token-lifetime", "id-token-lifetime", "refresh-token-lifetime", "code-lifetime"):
            parser.add_argument(f"--{option}", type=int, metavar="SECONDS")
        if name == "create":
            parser.add_argument("--alg", choices=["RS256", "ES256"], default="RS256", help="signing algorithm")
    _leaf(server, "list", _server_list, "list authorization servers")
    delete = _leaf(server, "delete", _server_delete, "delete an authorization server", json_output=False)
    delete.add_argument("id")

    keys = commands.add_parser("keys", help="signing keys").add_subparsers(dest="keys_command", required=True)
    rotate = _leaf(keys, "rotate", _keys_rotate,
                   "publish a new signing key; the old one stays published until its tokens expire")
    rotate.add_argument("--server", default="default", help="authorization server id (default: default)")
    rotate.add_argument("--alg", choices=["RS256", "ES256"], help="switch the signing algorithm")
    listing = _leaf(keys, "list", _keys_list, "list signing keys")
    listing.add_argument("--server", default="default")


# Handlers.

def _option(args: argparse.Namespace, name: str) -> str | None:
    from oidcgate.idp.settings import env

    value = getattr(args, name, None)
    return value if value is not None else env(name)


def _database_url(args: argparse.Namespace) -> str:
    from oidcgate.idp.settings import DEFAULT_PREFIX, default_database_url

    return _option(args, "database") or default_database_url(_option(args, "prefix") or DEFAULT_PREFIX)


def _parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"oidcgate idp: --listen must be HOST:PORT, not {value!r}")
    return host.strip("[]"), int(port)


def _serve(args: argparse.Namespace) -> int:
    from oidcgate.idp import server
    from oidcgate.idp.settings import Settings, tuned

    host, port = _parse_listen(_option(args, "listen") or "127.0.0.1:9000")
    try:
        settings = tuned(Settings(database_url=_database_url(args), host=host, port=port,
                                  issuer_url=_option(args, "issuer_url"), admin_token=_option(args, "admin_token"),
                                  forwarded_allow_ips=_option(args, "forwarded_allow_ips"),
                                  tls_cert=_option(args, "tls_cert"), tls_key=_option(args, "tls_key")))
    except ValueError as exc:
        print(f"oidcgate idp: {exc}", file=sys.stderr)
        return 2
    from oidcgate.tls.contexts import TLSConfigError

    try:
        server.serve(settings)
    except TLSConfigError as exc:
        print(f"oidcgate idp: {exc}", file=sys.stderr)
        return 2
    return 0


def _managed(args: argparse.Namespace, operation: Any) -> int:
    """Open the store, run `operation(store)`, print its result; management errors exit with 1."""
    from oidcgate.idp import service

    store = service.open_store(_database_url(args))
    try:
        result = operation(store)
    except service.ServiceError as exc:
        print(f"oidcgate idp: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2))
    elif isinstance(result, list):
        for row in result:
            print("  ".join(f"{key}={_plain(value)}" for key, value in row.items() if key != "jwks"))
    elif isinstance(result, dict):
        for key, value in result.items():
            print(f"{key}: {_plain(value)}")
    return 0


def _plain(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def _hasher() -> Any:
    from oidcgate.idp.hashing import SecretHasher
    from oidcgate.idp.settings import argon2_cost

    return SecretHasher(argon2_cost())


def _read_jwks(path: Path) -> dict[str, Any]:
    from joserfc import jwk

    data = path.read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        for key_type in ("RSA", "EC", "OKP"):
            try:
                return {"keys": [dict(jwk.import_key(data, key_type).as_dict(private=False))]}
            except Exception:  # not this key type; try the next
                continue
        raise SystemExit(f"oidcgate idp: {path} holds no usable public key")
    parsed = json.loads(data)
    return parsed if "keys" in parsed else {"keys": [parsed]}


def _client_create(args: argparse.Namespace) -> int:
    from oidcgate.idp import service

    def create(store: Any) -> dict[str, Any]:
        spec = service.validated(service.ClientSpec, {
            "name": args.name, "grant_types": args.grant_types, "scopes": args.scopes,
            "redirect_uris": args.redirect_uri, "post_logout_redirect_uris": args.post_logout_redirect_uri,
            "token_endpoint_auth_method": args.auth_method, "first_party": not args.third_party,
            "jwks": _read_jwks(args.jwks_file) if args.jwks_file else None,
        })
        created = service.create_client(store, spec, _hasher())
        return {"client_id": created.client_id, "client_secret": created.client_secret, **created.client}

    status = _managed(args, create)
    if status == 0 and not args.json:
        print("Store the client secret now: only its hash is kept, it cannot be shown again.", file=sys.stderr)
    return status


def _client_list(args: argparse.Namespace) -> int:
    from oidcgate.idp import service

    return _managed(args, service.list_clients)


def _client_delete(args: argparse.Namespace) -> int:
    from oidcgate.idp import service

    return _managed(args, lambda store: service.delete_client(store, args.client_id))


def _user_create(args: argparse.Namespace) -> int:
    from oidcgate.idp import service

    password = args.password
    if password is None:
        password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")

    def create(store: Any) -> dict[str, Any]:
        spec = service.validated(service.UserSpec, {"username": args.username, "password": password,
                                                     "groups": args.groups, "name": args.name, "email": args.email})
        return service.create_user(store, spec, _hasher())

    return _managed(args, create)


def _user_list(args: argparse.Namespace) -> int:
    from oidcgate.idp import service

    return _managed(args, service.list_users)


def _user_delete(args: argparse.Namespace) -> int:
    from oidcgate.idp import service

    return _managed(args, lambda store: service.delete_user(store, args.user))


def _scope_create(args: argparse.Namespace) -> int:
    from oidcgate.idp import service

    return _managed(args, lambda store: service.create_scope(
        store, service.validated(service.ScopeSpec, {"name": args.name, "description": args.description})))


def _scope_list(args: argparse.Namespace) -> int:
    from oidcgate.idp import service

    return _managed(args, service.list_scopes)


def _scope_delete(args: argparse.Namespace) -> int:
    from oidcgate.idp import service

    return _managed(args, lambda store: service.delete_scope(store, args.name))


def _server_fields(args: argparse.Namespace) -> dict[str, Any]:
    names = ("audience", "access_token_lifetime", "id_token_lifetime", "refresh_token_lifetime", "code_lifetime")
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _server_create(args: argparse.Namespace) -> int:
    from oidcgate.idp import service

    return _managed(args, lambda store: service.create_server(store, service.validated(
        service.ServerSpec, {"id": args.id, "signing_alg": args.alg, **_server_fields(args)})))


def _server_update(args: argparse.Namespace) -> int:
    from oidcgate.idp import service

    return _managed(args, lambda store: service.update_server(
        store, args.id, service.validated(service.ServerUpdate, _server_fields(args))))


def _server_list(args: argparse.Namespace) -> int:
    from oidcgate.idp import service

    return _managed(args, service.list_servers)


def _server_delete(args: argparse.Namespace) -> int:
    from oidcgate.idp import service

    return _managed(args, lambda store: service.delete_server(store, args.id))


def _keys_rotate(args: argparse.Namespace) -> int:
    from oidcgate.idp import service

    return _managed(args, lambda store: service.rotate_keys(store, args.server, args.alg))


def _keys_list(args: argparse.Namespace) -> int:
    from oidcgate.idp import service

    return _managed(args, lambda store: service.list_keys(store, args.server))
