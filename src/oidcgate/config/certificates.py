"""Kong's TLS entities: `certificates` (with `cert_alt`/`key_alt` for an RSA + ECDSA pair), `snis`
and `ca_certificates`.

Every PEM is parsed when it is written (Admin API, kong.yml, snapshot apply), and a key must be
the private key of its certificate, so a data plane never receives a pair it cannot load. A key
may be a `{vault://env/NAME}` reference (`key` and `key_alt` are `referenceable`, as in Kong); a data
plane resolves it through its `EnvVault` (`Certificate.pairs`), and the match is checked there.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from oidcgate.config.base import Entity
from oidcgate.config.errors import ConfigError, FieldError
from oidcgate.config.types import REFERENCEABLE, Reference
from oidcgate.config.vault import EnvVault, is_reference, parse
from oidcgate.tls import pem

_LABEL_RE = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_KEY_DESCRIPTION = "PEM private key of the certificate, or a {vault://env/NAME} reference."


def _cert(value: str) -> str:
    pem.load_chain(value)
    return value


def _key(value: str) -> str:
    if is_reference(value):
        parse(value)
    else:
        pem.load_key(value)
    return value


def sni_name(value: str) -> str:
    """Kong's `wildcard_host`: a host name without a port, one `*` as its leftmost or rightmost label."""
    name = value.lower()
    if ":" in name and not name.startswith("["):
        raise ValueError(f"invalid SNI '{value}': must not have a port")
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        pass
    else:
        raise ValueError(f"invalid SNI '{value}': must not be an IP address (clients send names only)")
    if name.count("*") > 1:
        raise ValueError(f"invalid SNI '{value}': only one wildcard must be specified")
    if "*" in name and not (name.startswith("*.") or name.endswith(".*")):
        raise ValueError(f"invalid SNI '{value}': wildcard must be leftmost or rightmost character")
    labels = name.removeprefix("*.").removesuffix(".*").split(".")
    if len(name) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise ValueError(f"invalid SNI '{value}': not a valid host name")
    return name


CertificatePEM = Annotated[str, Field(description="PEM certificate, optionally followed by its chain."),
                           AfterValidator(_cert)]
KeyPEM = Annotated[str, Field(description=_KEY_DESCRIPTION, json_schema_extra=REFERENCEABLE), AfterValidator(_key)]
# The marker must sit on the optional field itself: pydantic drops a Field() nested in a union member.
OptionalKeyPEM = Annotated[str | None, Field(description=_KEY_DESCRIPTION, json_schema_extra=REFERENCEABLE),
                           AfterValidator(lambda value: None if value is None else _key(value))]
SNIName = Annotated[str, AfterValidator(sni_name)]


class Certificate(Entity):
    KIND: ClassVar[str] = "certificates"
    ENDPOINT_KEY: ClassVar[str | None] = None

    cert: CertificatePEM
    key: KeyPEM
    cert_alt: CertificatePEM | None = None
    key_alt: OptionalKeyPEM = None

    @field_validator("key", "key_alt")
    @classmethod
    def _matches(cls, value: str | None, info: ValidationInfo) -> str | None:
        cert_field = "cert" if info.field_name == "key" else "cert_alt"
        cert = info.data.get(cert_field)
        if value is None or cert is None or is_reference(value):
            return value
        pem.check_pair(pem.load_certificate(cert), value,
                       "certificate" if cert_field == "cert" else "alternative certificate")
        return value

    @field_validator("cert_alt")
    @classmethod
    def _other_type(cls, value: str | None, info: ValidationInfo) -> str | None:
        cert = info.data.get("cert")
        if value is not None and cert is not None and \
                pem.key_type(pem.load_certificate(value)) == pem.key_type(pem.load_certificate(cert)):
            raise ValueError("certificate and alternative certificate need to have different type "
                             "(e.g. RSA and ECDSA), the provided certificates were both of the same type")
        return value

    @model_validator(mode="after")
    def _alt_pair(self) -> Certificate:
        if (self.cert_alt is None) != (self.key_alt is None):
            raise ValueError("all or none of these fields must be set: 'cert_alt', 'key_alt'")
        return self

    def pairs(self, vault: EnvVault, path: str) -> list[tuple[str, str]]:
        """The (certificate PEM, key PEM) pairs to load, keys' references resolved by this data plane's
        vault; ConfigError names the field (`path.key`) of a reference that does not resolve or of a
        resolved key that does not match its certificate, never the key."""
        keys = vault.resolve(Certificate, self.model_dump(include={"key", "key_alt"}, exclude_none=True), path)
        pairs = [(self.cert, keys["key"])]
        if self.cert_alt is not None:
            pairs.append((self.cert_alt, keys["key_alt"]))
        errors = []
        for (cert, key), name in zip(pairs, ("key", "key_alt"), strict=False):
            try:
                pem.check_pair(pem.load_certificate(cert), key)
            except ValueError as exc:
                errors.append(FieldError(f"{path}.{name}", str(exc)))
        if errors:
            raise ConfigError(errors)
        return pairs


class SNI(Entity):
    KIND: ClassVar[str] = "snis"

    name: SNIName
    certificate: Reference

    @field_validator("certificate", mode="before")
    @classmethod
    def _ref(cls, value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) != {"id"}:
                raise ValueError("a certificate reference must be {'id': ...}")
            return value["id"]
        return value


class CACertificate(Entity):
    KIND: ClassVar[str] = "ca_certificates"
    ENDPOINT_KEY: ClassVar[str | None] = None

    cert: Annotated[str, Field(description="One PEM CA certificate (basic constraint CA:TRUE).")]
    cert_digest: str | None = Field(default=None, description="SHA-256 of the certificate (computed).")

    @field_validator("cert")
    @classmethod
    def _ca(cls, value: str) -> str:
        chain = pem.load_chain(value)
        if len(chain) > 1:
            raise ValueError("please submit only one certificate at a time")
        if not pem.is_ca(chain[0]):
            raise ValueError('certificate does not appear to be a CA because it is missing the "CA" basic constraint')
        if pem.expired(chain[0]):
            raise ValueError('certificate expired, "Not After" time is in the past')
        return value

    @model_validator(mode="after")
    def _digest(self) -> CACertificate:
        self.cert_digest = pem.digest(pem.load_certificate(self.cert))
        return self
