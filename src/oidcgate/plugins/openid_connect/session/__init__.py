"""Browser sessions of the openid-connect plugin (modelled on lua-resty-session 4, which Kong uses).

- `codec`: AES-256-GCM sealing with keys derived from `session_secret` (HKDF-SHA256);
- `record`: what a session holds, and its idle, rolling and absolute deadlines;
- `cookies`: reading and writing the cookies, split into chunks above 4,000 bytes;
- `storage`: the session in the cookie itself, or in Redis with only an opaque id in the cookie;
- `secret`: the generated secret of a single node that has no `session_secret`.
"""
