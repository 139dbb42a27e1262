"""`oidcgate token ...`: tools for looking at tokens."""
