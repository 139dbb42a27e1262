"""oidcgate: a Python API gateway with first-class OpenID Connect."""

__version__ = "0.2.0"
