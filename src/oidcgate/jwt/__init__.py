"""JWT verification of its own, so the openid-connect plugin and `oidcgate token decode` check a token
the same way without the CLI reaching into the plugin.

`verify` (key rings, signatures, registered claims, the access-token `typ` rule), `claims` (reading
values at a claim path, the any-of-all-of requirement) and `errors` (`TokenError`, `UnknownKey`). No
I/O and no HTTP: a caller turns a `TokenError` into its own refusal (the plugin's 401, the CLI's exit
status). It imports nothing from `oidcgate.plugins` or `oidcgate.proxy` (`tests/test_layering.py`).
"""
