"""`oidcgate demo`: the whole story on a laptop in one command."""
