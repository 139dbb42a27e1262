"""The embedded identity provider: an OAuth 2.0 authorization server and OpenID Provider in Okta's shape.

Its folders are its layers (see README.md, "Layout"): `protocol/` holds the pure protocol rules, one
module per RFC; `storage/` the database and signing keys; `grants/` the token endpoint's grants;
`provider`, `sign_in` and `service` orchestrate them; `http/` serves them. Importing this package
stays cheap: the CLI imports `oidcgate.idp.commands` on every run.
"""
