"""The ready-to-run script that starts a data plane against a control plane (Konnect's runtime script).

The script carries the shared cluster key, so whoever may fetch it may join the cluster: the Admin
API serves it behind the same protection as every other endpoint, and it must never be logged.
"""

from __future__ import annotations

import re
import shlex

from oidcgate.cluster import protocol

_PEM_BEGIN = "-----BEGIN "
_PREFIX_RE = re.compile(r"^[\w./+${}-]+$")  # goes inside double quotes: no quotes, spaces or $( )


def render(cp_address: str, cert_pem: str | bytes, key_pem: str | bytes, *,
           prefix: str = "$HOME/.oidcgate-dp", server_name: str | None = None,
           command: str = "oidcgate") -> str:
    """A bash script writing the certificate and key under `prefix` and exec-ing `oidcgate dp`.

    `prefix` may use shell variables (it is expanded by the script, e.g. the default `$HOME/...`);
    it can be overridden at run time with OIDCGATE_PREFIX. Extra arguments are passed to `oidcgate dp`.
    """
    protocol.parse_address(cp_address)  # refuse to print a script that cannot work
    cert, key = _pem(cert_pem, "certificate"), _pem(key_pem, "private key")
    if not _PREFIX_RE.match(prefix):
        raise ValueError("prefix may hold letters, digits, _ . / + - and $VAR or ${VAR} references only")
    dp_args = ["--cp", cp_address]
    if server_name:
        dp_args += ["--cluster-server-name", server_name]
    return f"""#!/usr/bin/env bash
# Starts an oidcgate data plane connected to the control plane at {cp_address}.
# It contains the cluster private key: keep this script secret and delete it after use.
# Usage: bash this-script [extra oidcgate dp arguments]; OIDCGATE_PREFIX overrides the folder.
set -euo pipefail
umask 077
PREFIX="${{OIDCGATE_PREFIX:-{prefix}}}"
mkdir -p "$PREFIX"
cat > "$PREFIX/cluster.crt" <<'OIDCGATE_CLUSTER_CERT'
{cert}OIDCGATE_CLUSTER_CERT
cat > "$PREFIX/cluster.key" <<'OIDCGATE_CLUSTER_KEY'
{key}OIDCGATE_CLUSTER_KEY
chmod 600 "$PREFIX/cluster.crt" "$PREFIX/cluster.key"
exec {shlex.quote(command)} dp {shlex.join(dp_args)} \\
  --cluster-cert "$PREFIX/cluster.crt" --cluster-key "$PREFIX/cluster.key" --prefix "$PREFIX" "$@"
"""


def _pem(value: str | bytes, what: str) -> str:
    text = value.decode("ascii") if isinstance(value, bytes) else value
    text = text.strip() + "\n"
    lines = text.splitlines()
    if not lines[0].startswith(_PEM_BEGIN) or not lines[-1].startswith("-----END "):
        raise ValueError(f"the {what} is not PEM")
    if any(line.startswith("OIDCGATE_CLUSTER_") for line in lines):
        raise ValueError(f"the {what} contains a line that would end the script's here-document")
    return text
