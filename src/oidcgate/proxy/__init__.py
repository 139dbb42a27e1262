"""The data plane: a reverse proxy on uvloop + httptools driven by a declarative snapshot.

Request path: `server` (client connection, llhttp parser) -> `router` (compiled once per snapshot)
-> `pipeline` (plugins, only for routes that have some) -> `exchange` (forwarding, retries) ->
`upstream` (pooled keep-alive connections). `runtime` compiles a snapshot into all of these;
`worker` runs one process, `supervisor` and `master` run `oidcgate dp`.
"""
