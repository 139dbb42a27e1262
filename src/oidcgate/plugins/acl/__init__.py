"""Kong's acl plugin: allow or deny by group."""
