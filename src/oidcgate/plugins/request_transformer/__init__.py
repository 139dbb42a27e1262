"""request-transformer: Kong's plugin that edits the request before it is proxied (headers, query, body,
method, URI). Config in schema.py, the operations in transform.py."""
