"""``./dev serve``: the demo root (this checkout, as ``./dev demo`` makes it), an account for
each role with a fresh random password, and the pages on 127.0.0.1 over plain HTTP.

Demo accounts exist only in the demo root: this refuses any root but the source checkout's
own folder, so it can never add them to a council's root.

    python -m ehforms.web.demo --root . [--port 8080]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
from pathlib import Path

from ehforms.accounts import Role
from ehforms.core import Root
from ehforms.errors import EhformsError

DEMO_TIME = "2026-11-24T09:00:00+00:00"  # as `ehforms demo`: the samples route the same any day
CHECKOUT = Path(__file__).resolve().parents[3]


def demo_accounts(root: Root) -> list[tuple[str, Role, tuple[str, ...]]]:
    every = root.config.mailboxes
    return [
        ("hub@demo.example", Role.HUB, every),
        ("north.hub@demo.example", Role.HUB, tuple(m for m in every if m.endswith("-north"))),
        ("manager@demo.example", Role.MANAGER, ()),
        ("practitioner@demo.example", Role.PRACTITIONER, ()),
    ]


def prepare(path: Path) -> list[str]:
    """The demo root with its sample forms and demo accounts; lines saying how to sign in."""
    if path.resolve() != CHECKOUT:
        raise EhformsError(
            f"Demo accounts are made only in the demo root, {CHECKOUT}: not in {path}"
        )
    root = Root.open(path)
    if not root.has_ledger:
        root.demo(dt.datetime.fromisoformat(DEMO_TIME))
    lines = []
    for email, role, mailboxes in demo_accounts(root):
        password = "demo-" + secrets.token_urlsafe(12)
        if root.accounts.get(email) is None:
            root.accounts.add(email, role, mailboxes=mailboxes, password=password)
        root.accounts.set_password(email, password, one_time=False)
        where = f" ({', '.join(mailboxes)})" if mailboxes and len(mailboxes) < 4 else ""
        lines.append(f"  {role.value:<13} {email:<27} {password}{where}")
    root.close()
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path())
    parser.add_argument("--port", type=int, default=int(os.environ.get("EHFORMS_PORT", 8080)))
    args = parser.parse_args(argv)
    try:
        lines = prepare(args.root)
    except EhformsError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"Open http://127.0.0.1:{args.port}/sign-in and sign in with one of these demo")
    print("accounts (new passwords each time ./dev serve starts):")
    print("\n".join(lines))
    print("Stop with Ctrl-C.", flush=True)
    from ehforms.web import serve

    serve(args.root, host="127.0.0.1", port=args.port, insecure_http=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
