"""The protocol rules of the identity provider, free of I/O: one module per specification.

Modules are named after the RFC (or OpenID spec) they implement and cite it; each holds the checks
and documents of its spec as pure functions, and its error codes as `OAuthError` subclasses. Nothing
here touches the database, the network or the clock: callers pass `now`.
"""
