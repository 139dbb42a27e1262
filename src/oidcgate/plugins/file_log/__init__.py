"""Kong's file-log plugin: each finished request's log entry as a JSON line in a file."""
