"""The control plane <-> data plane link (Kong's hybrid mode): shared-certificate mutual TLS, WebSocket,
full-snapshot pushes with their hash, heartbeats, version and plugin compatibility."""
