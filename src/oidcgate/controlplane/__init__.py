"""The control plane: entities in a database, a Kong-compatible Admin API, config pushed to data planes."""
