"""Running the pages under waitress, a production WSGI server (threads, no Flask
development server)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from pathlib import Path

from ehforms.errors import ConfigError

log = logging.getLogger("ehforms.web")


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    root: Path | str,
    host: str = "127.0.0.1",
    port: int = 8080,
    insecure_http: bool = False,
    trusted_proxy: str | Sequence[str] | None = None,
    *,
    threads: int = 8,
) -> None:
    """Serve the pages for ``root`` until stopped. ``insecure_http`` (cookies without
    ``Secure``) is accepted only on a loopback ``host``; ``trusted_proxy`` is the reverse
    proxy's address, the only one whose ``X-Forwarded-*`` headers are believed."""
    import waitress

    from ehforms.web.app import create_app

    if insecure_http and not loopback(host):
        raise ConfigError(
            "--insecure-http is only for a loopback --host such as 127.0.0.1: behind a "
            "council's reverse proxy, serve over HTTPS"
        )
    proxies = [trusted_proxy] if isinstance(trusted_proxy, str) else list(trusted_proxy or [])
    overrides: dict[str, object] = {"insecure_http": insecure_http}
    if proxies:
        overrides["trusted_proxy"] = proxies
    app = create_app(Path(root), **overrides)
    log.info("serving %s on http://%s:%s/", Path(root), host, port)
    waitress.serve(app, host=host, port=port, threads=threads, ident="ehforms")
