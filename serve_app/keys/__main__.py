"""`python -m serve_app.keys init|create|list|revoke`: manage API keys in the store the settings name
(PLATFORM_KEY_STORE=file|redis). A key is printed once, at creation; only its hash is kept."""

import argparse
import re
import sys
from datetime import datetime, timezone

from serve_app.common.settings import PlatformSettings
from serve_app.keys.model import SCOPES, new_key
from serve_app.keys.store import ensure_admin_key, open_key_store


def _tenant(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", text):
        raise argparse.ArgumentTypeError("a tenant is 1-64 letters, digits or . _ -")
    return text


def _scopes(text: str) -> frozenset[str]:
    scopes = frozenset(text.split(","))
    if not scopes <= set(SCOPES):
        raise argparse.ArgumentTypeError(f"unknown scopes {sorted(scopes - set(SCOPES))}; choose from {SCOPES}")
    return scopes


def _when(timestamp: float | None) -> str:
    return "-" if timestamp is None else datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serve_app.keys", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init", help="create the admin key file unless it holds a valid key")
    create = commands.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--tenant", required=True, type=_tenant)
    create.add_argument("--tier", choices=("high", "normal", "low"), default="normal")
    create.add_argument("--scopes", type=_scopes, default=frozenset(scope for scope in SCOPES if scope != "admin"),
                        help=f"comma-separated, of {','.join(SCOPES)}")
    commands.add_parser("list", help="every key: id, tenant, tier, scopes, created, revoked")
    revoke = commands.add_parser("revoke", help="revoke a key by its id (the 8 hex digits after sfk_)")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)

    settings = PlatformSettings()
    store = open_key_store(settings.key_store, settings.keys_file, settings.redis_url)
    if args.command == "init":
        ensure_admin_key(store, settings.admin_key_file)
        print(f"admin API key: {settings.admin_key_file} "
              f'(send it as -H "Authorization: Bearer $(cat {settings.admin_key_file})")')
    elif args.command == "create":
        key, record = new_key(args.tenant, args.tier, args.scopes)
        store.put(record)
        print(key)
    elif args.command == "list":
        for record in sorted(store.all().values(), key=lambda r: r.created_at):
            print(f"{record.id}  {record.tenant:<16} {record.tier:<6} {','.join(sorted(record.scopes)):<28} "
                  f"created {_when(record.created_at)}  revoked {_when(record.revoked_at)}")
    elif not store.revoke(args.key_id):
        print(f"no active key {args.key_id!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
