"""oidcgate: a Python API gateway with first-class OpenID Connect."""

from oidcgate.compiled import verify as _verify_compiled

__version__ = "0.2.0"

_verify_compiled()  # before any compiled module runs (see oidcgate.compiled)
