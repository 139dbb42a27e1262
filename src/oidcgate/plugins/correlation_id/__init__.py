"""correlation-id: Kong's plugin that tags each request with a unique id in a header (and optionally echoes
it to the client). Config in schema.py, the id generators in generators.py."""
