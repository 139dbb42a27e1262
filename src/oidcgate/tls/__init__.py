"""TLS for every listener and upstream: Kong's listen syntax, PEM checks, server and client contexts."""
