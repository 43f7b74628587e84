"""The application factory: one Flask app for one working root.

Templates come from the root's own ``templates/web/`` first (a council restyles its pages
there, file by file), then the ones ehforms ships, then GOV.UK Frontend's macros
(``govuk-frontend-jinja``). Autoescape is on for every template: whatever a form says is data.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, g, redirect, render_template, send_from_directory, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader, select_autoescape
from werkzeug.exceptions import HTTPException

from ehforms.accounts import Role
from ehforms.content import TEMPLATES, builtin_templates
from ehforms.core import Root
from ehforms.web import settings
from ehforms.web.present import mailbox_name
from ehforms.web.uploads import UploadRequest

log = logging.getLogger("ehforms.web")

WEB = "web"
TITLES = {
    400: "Sorry, there is a problem with the service",
    403: "You do not have access to this page",
    404: "Page not found",
    405: "Sorry, there is a problem with the service",
    500: "Sorry, there is a problem with the service",
}


def template_folders(root: Path) -> list[str]:
    folders = [root / TEMPLATES / WEB, Path(str(builtin_templates())) / WEB]
    return [str(folder) for folder in folders if folder.is_dir()]


def navigation(role: Role | None) -> list[tuple[str, str]]:
    """The header's links by role (web.md), as (text, endpoint), for the pages that exist
    (managers' "Reports" comes with its page)."""
    people = [
        ("Get a form", "practitioners.forms"),
        ("Send a form", "practitioners.send"),
        ("Your forms", "practitioners.sent"),
    ]
    if role == Role.PRACTITIONER:
        return people
    if role == Role.HUB:
        return [*people, ("Mailboxes", "mailboxes.index")]
    if role in (Role.HUB, Role.MANAGER):
        links = [("Mailboxes", "mailboxes.index")]
        if role == Role.MANAGER:
            links.append(("Reports", "reports.index"))
            links.append(("Audit", "audit.index"))
        return links
    return []


def first_page(role: Role) -> str:
    """Where a person lands after signing in."""
    if role in (Role.HUB, Role.MANAGER):
        return url_for("mailboxes.index")
    return url_for("practitioners.forms")


def create_app(root_path: Path | str, **overrides: Any) -> Flask:
    """The web pages for the working root at ``root_path``. ``overrides`` win over every
    other setting (``page_size=2``, ``insecure_http=True``, ``trusted_proxy=["10.0.0.1"]``,
    ``environ={...}`` in place of the process's environment)."""
    root_path = Path(root_path)
    environ: Mapping[str, str] = overrides.pop("environ", None) or os.environ
    root = overrides.pop("root", None) or Root.open(root_path, environ=dict(environ))
    app = Flask("ehforms.web", static_folder=None)
    app.config.update(settings.load(root_path, environ, overrides))
    app.config.update(
        SESSION_COOKIE_NAME=(
            "ehforms-csrf" if app.config["INSECURE_HTTP"] else "__Host-ehforms-csrf"
        ),
        SESSION_COOKIE_SECURE=not app.config["INSECURE_HTTP"],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        WTF_CSRF_TIME_LIMIT=12 * 3600,
        MAX_CONTENT_LENGTH=64 * 1024,  # forms of this issue post a few fields, no files
    )
    app.extensions["ehforms.root"] = root
    app.request_class = UploadRequest  # /send's files streamed under the root (web/uploads.py)
    app.jinja_loader = ChoiceLoader(
        [
            FileSystemLoader(template_folders(root_path)),
            PrefixLoader(
                {"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja", "templates")}
            ),
        ]
    )
    app.jinja_env.autoescape = select_autoescape(default=True, default_for_string=True)
    app.jinja_env.globals.update(council_name=root.config.council_name)
    CSRFProtect(app)

    from ehforms.web import audit, auth, mailboxes, reports, security

    app.register_blueprint(auth.pages)
    app.register_blueprint(mailboxes.pages)
    app.register_blueprint(audit.pages)
    app.register_blueprint(reports.pages)
    from ehforms.web import practitioners

    app.register_blueprint(practitioners.pages)
    security.install(app)
    assets = Path(app.config["ASSETS_DIR"])
    if not (assets / "ehforms.css").is_file():
        log.warning("no web assets in %s: run ./dev assets (the pages show unstyled)", assets)

    @app.get("/assets/<path:name>", endpoint="assets")
    def serve_asset(name: str) -> ResponseReturnValue:
        return send_from_directory(assets, name, max_age=3600)

    @app.get("/favicon.ico", endpoint="favicon")
    def favicon() -> ResponseReturnValue:
        return "", 204

    @app.get("/", endpoint="home")
    def home() -> ResponseReturnValue:
        return redirect(first_page(g.account.role))

    @app.context_processor
    def page_context() -> dict[str, Any]:
        account = g.get("account")
        return {
            "account": account,
            # until a one-time password is changed, no page but that one opens: no links
            "navigation": navigation(
                account.role if account and not account.must_change_password else None
            ),
            "mailbox_name": lambda m: mailbox_name(root.config, m),
        }

    @app.errorhandler(CSRFError)
    def csrf_refused(error: CSRFError) -> ResponseReturnValue:
        log.info("refused a form without a valid CSRF token (%s)", error.description)
        return render_template("error.html", code=400, title=TITLES[400], csrf=True), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        code = error.code or 500
        return render_template("error.html", code=code, title=TITLES.get(code, TITLES[500])), code

    @app.errorhandler(Exception)
    def failure(error: Exception) -> ResponseReturnValue:
        # the type and where, never the message: it may quote what a form said
        frames = traceback.extract_tb(error.__traceback__)
        where = " < ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames[-4:]))
        log.error("a page failed: %s at %s", type(error).__name__, where)
        return render_template("error.html", code=500, title=TITLES[500]), 500

    return app
