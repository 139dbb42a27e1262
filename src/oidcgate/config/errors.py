"""Configuration errors that carry every problem at once, each with its path in the document."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str  # e.g. "services[0].routes[1].paths[0]"
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(ValueError):
    """A document or entity failed validation; `errors` lists every problem found."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))

    def fields(self) -> dict[str, Any]:
        """Kong's nested `fields` shape for Admin API errors: {"config": {"issuer": "required field missing"}}."""
        nested: dict[str, Any] = {}
        for error in self.errors:
            keys = [k for k in error.path.replace("[", ".").replace("]", "").split(".") if k] or ["@entity"]
            node = nested
            for key in keys[:-1]:
                child = node.setdefault(key, {})
                if not isinstance(child, dict):  # a message already sits there; keep both
                    child = node[key] = {"@entity": child}
                node = child
            leaf, existing = keys[-1], node.get(keys[-1])
            if isinstance(existing, dict):  # errors on `a[0]` came first: keep them, add `a`'s own
                existing["@entity"] = _joined(existing.get("@entity"), error.message)
            else:
                node[leaf] = _joined(existing, error.message)
        return nested


def _joined(existing: object, message: str) -> str:
    return f"{existing}; {message}" if isinstance(existing, str) else message


_MESSAGES = {
    "missing": "required field missing",
    "extra_forbidden": "unknown field",
}


def join_path(prefix: str, loc: Iterable[int | str]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith("function-") or part in {"list", "dict"}:  # pydantic's internal steps
            continue
        else:
            path = f"{path}.{part}" if path else part
    return path


def from_pydantic(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """Translate pydantic's errors into FieldErrors with document paths and plain messages."""
    errors = []
    for err in exc.errors(include_url=False):
        message = _MESSAGES.get(err["type"], err["msg"])
        for noise in ("Value error, ", "Assertion failed, "):
            message = message.removeprefix(noise)
        errors.append(FieldError(join_path(prefix, err["loc"]), message))
    return errors
