"""The web face's settings, in layers: defaults, then the root's ``[web]`` table (in
``ehforms.toml``, or the file ``EHFORMS_CONFIG`` names), then ``EHFORMS_WEB_*`` environment
variables (``EHFORMS_WEB_PAGE_SIZE=20``; values read as JSON when they parse), then what the
caller of :func:`ehforms.web.create_app` passes.

Secrets are never configuration keys: the key that signs the CSRF cookie comes from
``EHFORMS_WEB_SECRET_KEY`` or is made at random when the service starts (a restart then only
asks people to send an open form again).

``[web] idle_minutes`` and ``session_hours`` belong to the core (``Config``), which ends
sessions; the pages read them from there.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ehforms.config import CONFIG_FILE, ENV_PREFIX, read_toml
from ehforms.errors import ConfigError

PREFIX = ENV_PREFIX + "WEB_"

DEFAULTS: dict[str, Any] = {
    "page_size": 50,
    "assets_dir": "",  # default: build/assets in the source checkout (./dev assets)
    "insecure_http": False,
    "trusted_proxy": [],
    "listing_seconds": 1.0,  # how long a mailbox's listing is kept for the next person
}
SECRETS = ("secret_key",)


def default_assets() -> Path:
    """Where ``./dev assets`` builds GOV.UK Frontend: ``build/assets`` in the checkout."""
    return Path(__file__).resolve().parents[3] / "build" / "assets"


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(PREFIX):
            continue
        key = name[len(PREFIX) :].lstrip("_").lower()  # EHFORMS_WEB__X works too
        try:
            found[key] = json.loads(raw)
        except ValueError:
            found[key] = raw
    return found


def _from_file(root: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    named = environ.get(ENV_PREFIX + "CONFIG")
    path = Path(named) if named else root / CONFIG_FILE
    if not path.is_file():
        return {}
    table = read_toml(path).get("web", {})
    if not isinstance(table, Mapping):
        raise ConfigError("[web] must be a table")
    for key in SECRETS:
        if key in table:
            raise ConfigError(
                f"[web] {key} is a secret: set it in the environment as "
                f"{PREFIX}{key.upper()}, never in the configuration file"
            )
    return dict(table)


def load(root: Path, environ: Mapping[str, str], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Flask's configuration for one root: upper-case keys, checked."""
    merged: dict[str, Any] = dict(DEFAULTS)
    merged.update(_from_file(root, environ))
    merged.update(_from_env(environ))
    merged.update({key.lower(): value for key, value in overrides.items()})
    page_size = merged["page_size"]
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ConfigError("web.page_size must be a whole number of at least 1")
    keep = merged["listing_seconds"]
    if isinstance(keep, bool) or not isinstance(keep, int | float) or not 0 <= keep <= 60:
        raise ConfigError("web.listing_seconds must be a number of seconds from 0 to 60")
    proxies = merged["trusted_proxy"]
    if isinstance(proxies, str):
        proxies = [proxies] if proxies else []
    if not isinstance(proxies, list | tuple) or not all(isinstance(p, str) for p in proxies):
        raise ConfigError("web.trusted_proxy must be an address or a list of addresses")
    merged["trusted_proxy"] = tuple(proxies)
    merged["insecure_http"] = bool(merged["insecure_http"])
    merged["assets_dir"] = str(merged["assets_dir"] or default_assets())
    merged["secret_key"] = merged.get("secret_key") or secrets.token_hex(32)
    return {key.upper(): value for key, value in merged.items()}
