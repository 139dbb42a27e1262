"""The Kong-compatible Admin API (a Starlette app built by `oidcgate.controlplane.admin.app.create_app`)."""
