"""What every response and request goes through: the session cookie, the headers of the
contract (CSP with the hash of GOV.UK Frontend's one inline script), roles checked before any
look-up, and ``X-Forwarded-*`` trusted only from the configured proxy."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable
from contextlib import suppress
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from ehforms.accounts import Role, SessionEnded

# Pages anyone may open, signed in or not.
PUBLIC = {"auth.sign_in", "auth.signed_out", "assets", "favicon", "static"}
# What a person who must change their one-time password may still do.
CHANGING = {"auth.change_password", "auth.sign_out"}

View = TypeVar("View", bound=Callable[..., Any])


def cookie_name(app: Flask | None = None) -> str:
    app = app or current_app
    return "ehforms-session" if app.config["INSECURE_HTTP"] else "__Host-ehforms-session"


def set_session_cookie(response: Response, token: str) -> None:
    insecure = current_app.config["INSECURE_HTTP"]
    response.set_cookie(
        cookie_name(),
        token,
        path="/",
        secure=not insecure,
        httponly=True,
        samesite="Lax",
    )


def clear_session_cookie(response: Response) -> None:
    insecure = current_app.config["INSECURE_HTTP"]
    response.delete_cookie(
        cookie_name(), path="/", secure=not insecure, httponly=True, samesite="Lax"
    )


def session_token() -> str | None:
    return request.cookies.get(cookie_name()) or None


def local_path(target: str | None) -> str | None:
    """``target`` when it is a path on this site (``/mailboxes``), else None: never another
    host, a scheme, ``//host`` or a backslash trick."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 0x21 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def here() -> str:
    """This request's path and query, for coming back after signing in."""
    query = request.query_string.decode("latin-1")
    return request.path + (f"?{query}" if query else "")


def requires(*roles: Role) -> Callable[[View], View]:
    """A view only these roles may open: any other signed-in person gets 403 at once, before
    the view looks anything up."""

    def decorate(view: View) -> View:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if g.account.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return cast(View, checked)

    return decorate


def gate() -> ResponseReturnValue | None:
    """Before every request: who is signed in (``g.account``), or off to sign in."""
    g.account = None
    g.token = None
    if request.endpoint in PUBLIC or request.endpoint is None:
        token = session_token()
        if token and request.endpoint == "auth.sign_in":
            g.token = token  # ended at the next sign-in: a new session, never this one
        elif token and request.endpoint is None:
            # an address that is no page: 404, with the person's header if they are signed in
            with suppress(SessionEnded):
                g.account = current_app.extensions["ehforms.root"].accounts.session(token).account
        return None
    token = session_token()
    if token is None:
        return redirect(url_for("auth.sign_in", next=here()))
    try:
        session = current_app.extensions["ehforms.root"].accounts.session(token)
    except SessionEnded as ended:
        target = (
            url_for("auth.signed_out", next=here(), reason="inactive")
            if ended.reason == "inactive"
            else url_for("auth.sign_in", next=here())
        )
        response = redirect(target)
        clear_session_cookie(response)
        return response
    g.account = session.account
    g.token = token
    if g.account.must_change_password and request.endpoint not in CHANGING:
        return redirect(url_for("auth.change_password", next=here()))
    return None


def inline_script_hashes(app: Flask) -> list[str]:
    """The CSP hash of each inline script in GOV.UK Frontend's page template (one: it adds
    ``js-enabled``), read from the template itself so an upgrade cannot silently break it."""
    assert app.jinja_loader is not None
    source, _, _ = app.jinja_loader.get_source(app.jinja_env, "govuk_frontend_jinja/template.html")
    found = []
    for body in re.findall(r"<script(?:\s[^>]*)?>(.*?)</script>", source, flags=re.S):
        if "{" in body:  # Jinja in the script: it could not be hashed ahead
            raise RuntimeError("GOV.UK Frontend's inline script changes per page")
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        found.append(f"'sha256-{digest}'")
    return found


def policy(hashes: Iterable[str]) -> str:
    return (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
        f"script-src 'self' {' '.join(hashes)}"
    )


def add_headers(response: Response) -> Response:
    csp = current_app.config["CSP"]
    styles = g.get("style_hashes")
    if styles:  # a page's own inline styles (the report's charts), each by its hash
        csp += f"; style-src 'self' {' '.join(styles)}"
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "assets":
        # council PCs are shared: nothing a page shows stays in the browser's cache
        response.headers["Cache-Control"] = "no-store"
    return response


class TrustedProxy:
    """``X-Forwarded-For``, ``-Proto``, ``-Host``, ``-Port`` and ``-Prefix`` believed only
    when the request comes from one of ``proxies`` (one hop); from anyone else they are
    dropped, so nobody can claim another address (the sign-in delays count per address)."""

    HEADERS = ("FOR", "PROTO", "HOST", "PORT", "PREFIX")

    def __init__(self, app: Any, proxies: Iterable[str]) -> None:
        self.proxies = set(proxies)
        self.plain = app
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REMOTE_ADDR") in self.proxies:
            return self.fixed(environ, start_response)
        for header in self.HEADERS:
            environ.pop(f"HTTP_X_FORWARDED_{header}", None)
        return self.plain(environ, start_response)


def install(app: Flask) -> None:
    app.config["CSP"] = policy(inline_script_hashes(app))
    app.before_request(gate)
    app.after_request(add_headers)
    if app.config["TRUSTED_PROXY"]:
        app.wsgi_app = TrustedProxy(app.wsgi_app, app.config["TRUSTED_PROXY"])  # type: ignore[method-assign]
    else:
        app.wsgi_app = TrustedProxy(app.wsgi_app, ())  # type: ignore[method-assign]
