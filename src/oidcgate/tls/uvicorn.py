"""Serving an ASGI app over TLS with our own context (uvicorn would build a laxer one from file names)."""

from __future__ import annotations

import ssl

import uvicorn


def with_tls(config: uvicorn.Config, context: ssl.SSLContext | None) -> uvicorn.Config:
    """`config`, loaded, with `context` as its TLS context (None: plain HTTP)."""
    if context is not None:
        config.load()
        config.ssl = context
    return config
