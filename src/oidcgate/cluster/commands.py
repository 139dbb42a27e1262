"""`oidcgate cluster gen-cert`: write the shared cluster certificate (Kong's `kong hybrid gen_cert`)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("cluster", help="hybrid mode: the control plane <-> data plane link")
    sub = parser.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    gen = sub.add_parser(
        "gen-cert", help="write a shared cluster certificate and key for hybrid mode",
        description="Writes a self-signed certificate and its private key, shared by the control plane "
                    "(--cluster-cert/--cluster-key of `oidcgate cp`) and every data plane (same flags "
                    "of `oidcgate dp`). Only holders of the key can join the cluster.")
    gen.add_argument("cert_pos", nargs="?", metavar="CERT", help="same as --cert (Kong's positional form)")
    gen.add_argument("key_pos", nargs="?", metavar="KEY", help="same as --key")
    gen.add_argument("--cert", help="certificate file to write (default: cluster.crt)")
    gen.add_argument("--key", help="private key file to write, mode 0600 (default: cluster.key)")
    gen.add_argument("-d", "--days", type=int, default=None, help="validity in days (default: 1095)")
    gen.add_argument("--key-type", choices=("ec", "rsa"), default="ec", help="EC P-384 (default) or RSA 3072")
    gen.add_argument("--force", action="store_true", help="overwrite existing files")
    gen.set_defaults(handler=_gen_cert)


def _gen_cert(args: argparse.Namespace) -> int:
    from oidcgate.cluster import certs

    if (args.cert and args.cert_pos) or (args.key and args.key_pos):
        print("error: give each file either as a flag or positionally, not both", file=sys.stderr)
        return 2
    cert = args.cert or args.cert_pos or "cluster.crt"
    key = args.key or args.key_pos or "cluster.key"
    days = certs.DEFAULT_DAYS if args.days is None else args.days
    if days < 1:
        print("error: --days must be at least 1", file=sys.stderr)
        return 2
    try:
        certs.generate(cert, key, days=days, key_type=args.key_type, force=args.force)
    except certs.CertificateExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote cluster certificate {cert} and key {key} (valid {days} days)")
    return 0
