"""Persistent state of the identity provider (SQLAlchemy 2 ORM on SQLite or PostgreSQL).

Tables are created on open. Times are integer Unix seconds, so both databases compare them the same
way. Secrets are never stored in clear: client secrets and passwords as argon2 hashes, codes,
refresh tokens and session ids as SHA-256 digests (they are long random values, so a fast hash
suffices). Single-use checks (codes, refresh-token rotation, assertion `jti`s) are single atomic
statements, so they hold with several server processes on one PostgreSQL database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import CursorResult, Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Executable

from oidcgate.private_files import private_sqlite


class Base(DeclarativeBase):
    type_annotation_map = {int: BigInteger, dict[str, Any]: JSON, list[str]: JSON}


class AuthServer(Base):
    """An authorization server (Okta's custom authorization server): one issuer, audience and key set."""

    __tablename__ = "idp_auth_servers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    audience: Mapped[str] = mapped_column(String(400))
    access_token_lifetime: Mapped[int]
    id_token_lifetime: Mapped[int]
    refresh_token_lifetime: Mapped[int]
    code_lifetime: Mapped[int]
    signing_alg: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int]


class Client(Base):
    __tablename__ = "idp_clients"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    auth_method: Mapped[str] = mapped_column(String(40))
    secret_hash: Mapped[str | None] = mapped_column(String(200))
    grant_types: Mapped[list[str]]
    scopes: Mapped[list[str]]
    redirect_uris: Mapped[list[str]]
    post_logout_redirect_uris: Mapped[list[str]]
    jwks: Mapped[dict[str, Any] | None]
    first_party: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[int]


class User(Base):
    __tablename__ = "idp_users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    groups: Mapped[list[str]]
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[int]


class Scope(Base):
    __tablename__ = "idp_scopes"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int]


class SigningKey(Base):
    """A private JWK; published in the JWKS until `publish_until` (None: the active key)."""

    __tablename__ = "idp_signing_keys"
    kid: Mapped[str] = mapped_column(String(100), primary_key=True)
    server_id: Mapped[str] = mapped_column(String(64), index=True)
    alg: Mapped[str] = mapped_column(String(16))
    private_jwk: Mapped[dict[str, Any]]
    created_at: Mapped[int]
    retired_at: Mapped[int | None]
    publish_until: Mapped[int | None]


class AuthorizationCode(Base):
    __tablename__ = "idp_authorization_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    server_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    auth_time: Mapped[int]
    expires_at: Mapped[int]
    used_at: Mapped[int | None]
    # What the code was exchanged for, so that a replayed code can revoke it (RFC 6749 §4.1.2).
    access_jti: Mapped[str | None] = mapped_column(String(64))
    access_exp: Mapped[int | None]
    family_id: Mapped[str | None] = mapped_column(String(64))


class RefreshToken(Base):
    """One refresh token of a family: the chain of rotations from one authorization."""

    __tablename__ = "idp_refresh_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    server_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(Text)
    auth_time: Mapped[int]
    created_at: Mapped[int]
    expires_at: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))  # active | rotated | revoked
    access_jti: Mapped[str] = mapped_column(String(64))
    access_exp: Mapped[int]


class RevokedToken(Base):
    """A revoked access token, remembered until it would have expired anyway."""

    __tablename__ = "idp_revoked_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int]


class UsedAssertion(Base):
    """A client assertion's jti, remembered until the assertion expires (RFC 7523 §3, replay)."""

    __tablename__ = "idp_used_assertions"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[int]


class LoginSession(Base):
    __tablename__ = "idp_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    auth_time: Mapped[int]
    expires_at: Mapped[int]


class Consent(Base):
    """Scopes a user allowed a third-party client, so the consent page is not shown again."""

    __tablename__ = "idp_consents"
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(Text)


ModelT = TypeVar("ModelT", bound=Base)


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    if parsed.database in (None, "", ":memory:"):
        return create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    private_sqlite(Path(parsed.database).expanduser())  # it holds the signing keys
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the writer
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


class Store:
    """The provider's database. Methods are synchronous; the server calls them from worker threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        Base.metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        with self._sessions.begin() as session:
            yield session

    # Generic access by primary key, used for the simple entities.

    def get(self, model: type[ModelT], key: Any) -> ModelT | None:
        if not _storable(key):
            return None
        with self.session() as session:
            return session.get(model, key)

    def add(self, row: Base) -> bool:
        """Insert a row; False when its primary key (or a unique column) is taken."""
        try:
            with self.session() as session:
                session.add(row)
        except IntegrityError:
            return False
        return True

    def all(self, model: type[ModelT], *order_by: Any) -> Sequence[ModelT]:
        with self.session() as session:
            return session.scalars(select(model).order_by(*order_by)).all()

    def merge(self, row: ModelT) -> ModelT:
        with self.session() as session:
            return session.merge(row)

    # Entities with more to them.

    def user_by_username(self, username: str) -> User | None:
        if not _storable(username):
            return None
        with self.session() as session:
            return session.scalars(select(User).where(User.username == username)).first()

    def delete_client(self, client_id: str) -> bool:
        """Delete a client with its codes, refresh tokens and consents."""
        with self.session() as session:
            deleted = _changed(session, delete(Client).where(Client.client_id == client_id))
            for model in (AuthorizationCode, RefreshToken, Consent, UsedAssertion):
                _changed(session, delete(model).where(model.client_id == client_id))
        return bool(deleted)

    def delete_user(self, user_id: str) -> bool:
        """Delete a user with their codes, refresh tokens, sessions and consents."""
        with self.session() as session:
            deleted = _changed(session, delete(User).where(User.id == user_id))
            for model in (AuthorizationCode, RefreshToken, LoginSession, Consent):
                _changed(session, delete(model).where(model.user_id == user_id))
        return bool(deleted)

    def delete_scope(self, name: str) -> bool:
        with self.session() as session:
            return bool(_changed(session, delete(Scope).where(Scope.name == name)))

    def ensure_scopes(self, names: Sequence[str], now: int) -> None:
        """Register scopes a client is granted that nobody created beforehand."""
        with self.session() as session:
            known = set(session.scalars(select(Scope.name).where(Scope.name.in_(names))))
            session.add_all(Scope(name=name, description="", created_at=now) for name in names if name not in known)

    def delete_server(self, server_id: str) -> bool:
        with self.session() as session:
            deleted = _changed(session, delete(AuthServer).where(AuthServer.id == server_id))
            _changed(session, delete(SigningKey).where(SigningKey.server_id == server_id))
        return bool(deleted)

    # Signing keys.

    def keys(self, server_id: str) -> Sequence[SigningKey]:
        with self.session() as session:
            query = select(SigningKey).where(SigningKey.server_id == server_id).order_by(SigningKey.created_at)
            return session.scalars(query).all()

    def replace_active_key(self, server_id: str, new_key: SigningKey, now: int, publish_until: int) -> None:
        """Retire the active key (still published until `publish_until`) and make `new_key` active."""
        with self.session() as session:
            session.execute(
                update(SigningKey)
                .where(SigningKey.server_id == server_id, SigningKey.retired_at.is_(None))
                .values(retired_at=now, publish_until=publish_until)
            )
            session.add(new_key)

    # Single-use values.

    def remember_assertion(self, client_id: str, jti: str, expires_at: int) -> bool:
        """Record a client assertion's jti; False if it was seen before (a replay)."""
        return self.add(UsedAssertion(client_id=client_id, jti=jti, expires_at=expires_at))

    def use_code(self, code_hash: str, now: int) -> AuthorizationCode | None:
        """Mark a code used. Returns it on its first use; None when unknown or already used."""
        with self.session() as session:
            claimed = _changed(
                session,
                update(AuthorizationCode)
                .where(AuthorizationCode.code_hash == code_hash, AuthorizationCode.used_at.is_(None))
                .values(used_at=now)
            )
            return session.get(AuthorizationCode, code_hash) if claimed else None

    def record_code_exchange(self, code_hash: str, access_jti: str, access_exp: int, family_id: str | None) -> None:
        with self.session() as session:
            session.execute(
                update(AuthorizationCode).where(AuthorizationCode.code_hash == code_hash)
                .values(access_jti=access_jti, access_exp=access_exp, family_id=family_id)
            )

    def rotate_refresh_token(self, token_hash: str) -> RefreshToken | None:
        """Mark an active refresh token rotated. Returns it if it was active; None otherwise."""
        with self.session() as session:
            claimed = _changed(
                session,
                update(RefreshToken)
                .where(RefreshToken.token_hash == token_hash, RefreshToken.status == "active")
                .values(status="rotated")
            )
            return session.get(RefreshToken, token_hash) if claimed else None

    def revoke_family(self, family_id: str) -> None:
        """Revoke every refresh token of a family and the access tokens issued with them."""
        with self.session() as session:
            rows = session.scalars(select(RefreshToken).where(RefreshToken.family_id == family_id)).all()
            _changed(session, update(RefreshToken).where(RefreshToken.family_id == family_id).values(status="revoked"))
            _revoke_jtis(session, {(row.access_jti, row.access_exp) for row in rows})

    def revoke_access_token(self, jti: str, expires_at: int) -> None:
        with self.session() as session:
            _revoke_jtis(session, {(jti, expires_at)})

    def is_revoked(self, jti: str) -> bool:
        with self.session() as session:
            return session.get(RevokedToken, jti) is not None

    def purge_expired(self, now: int) -> None:
        """Drop rows nobody can use any more, so tables do not grow without bound."""
        with self.session() as session:
            for model in (RefreshToken, RevokedToken, UsedAssertion, LoginSession):
                _changed(session, delete(model).where(model.expires_at < now))
            # A used code is kept while its access token lives, so that a replay can still revoke it.
            code_end = func.coalesce(AuthorizationCode.access_exp, AuthorizationCode.expires_at)
            _changed(session, delete(AuthorizationCode).where(code_end < now))
            _changed(session, delete(SigningKey).where(SigningKey.publish_until < now))


def _storable(key: Any) -> bool:
    """PostgreSQL text cannot hold NUL, so no stored key contains one: such a lookup finds nothing."""
    parts = key if isinstance(key, tuple) else (key,)
    return not any(isinstance(part, str) and "\x00" in part for part in parts)


def _changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE; how many rows it changed."""
    result = session.execute(statement)
    return int(cast("CursorResult[Any]", result).rowcount)


def _revoke_jtis(session: Session, tokens: set[tuple[str, int]]) -> None:
    known = set(session.scalars(select(RevokedToken.jti).where(RevokedToken.jti.in_([jti for jti, _ in tokens]))))
    session.add_all(RevokedToken(jti=jti, expires_at=exp) for jti, exp in tokens if jti not in known)
