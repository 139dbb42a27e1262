"""The embedded identity provider: an OAuth 2.0 authorization server and OpenID Provider in Okta's shape.

Modules are named after the specification they implement (`rfc6749_*`, `rfc7636_pkce`, `oidc_core`, ...)
and hold pure protocol logic; `store` persists state, `keys` manages signing keys, `provider` ties them
together for the HTTP layer in `app`, and `service` is the management API used by the CLI, the REST
admin API and other parts of oidcgate (the demo). Importing this package stays cheap: the CLI imports
`oidcgate.idp.commands` on every run.
"""
