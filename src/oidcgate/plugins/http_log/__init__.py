"""Kong's http-log plugin: each finished request's log entry, in batches, to an HTTP collector."""
