"""The openid-connect plugin (Kong's): client credentials, bearer JWTs, introspection, claim checks."""
