"""Running the pages under waitress, a production WSGI server (threads, no Flask
development server)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ehforms.errors import ConfigError

if TYPE_CHECKING:
    from ehforms.core import Root

log = logging.getLogger("ehforms.web")


M_ARENA_MAX = -8
M_MMAP_THRESHOLD = -3


def tame_malloc() -> None:
    """Keep the service's memory near what it uses (glibc only; elsewhere nothing).

    Each sign-in's Argon2 check takes 19 MiB. glibc raises its mmap threshold after such a
    block is freed, so later ones come from the heap of whichever thread asked, and each of
    the eight threads keeps its own: twenty sign-ins left ``serve`` at 220 MB. A fixed
    threshold of 1 MiB gives every large block back at once, and two arenas stop eight
    threads' heaps from each keeping a peak."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "mallopt"):
            libc.mallopt(M_MMAP_THRESHOLD, 1024 * 1024)
            libc.mallopt(M_ARENA_MAX, 2)
    except OSError:
        pass


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def temporary_files_under(root: Root) -> None:
    """Waitress buffers a large request's body in a temporary file before the page reads it:
    this process's temporary files go under the root (``.ehforms/tmp``, 0700), like
    everything else a form is written to, never the system's folder."""
    import tempfile

    tempfile.tempdir = str(root.private_temporary())


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
    tame_malloc()
    app = create_app(Path(root), **overrides)
    temporary_files_under(app.extensions["ehforms.root"])
    log.info("serving %s on http://%s:%s/", Path(root), host, port)
    waitress.serve(app, host=host, port=port, threads=threads, ident="ehforms")
