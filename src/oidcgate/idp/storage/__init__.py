"""The identity provider's persistent state: the SQL tables (`store`) and the signing keys (`keys`)."""
