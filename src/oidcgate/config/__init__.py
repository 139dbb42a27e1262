"""Declarative configuration: entity schemas, the kong.yml loader, snapshots and their hashes."""

from oidcgate.config.declarative import EMPTY, Snapshot, load, load_file, parse_text
from oidcgate.config.errors import ConfigError, FieldError

__all__ = ["EMPTY", "ConfigError", "FieldError", "Snapshot", "load", "load_file", "parse_text"]
