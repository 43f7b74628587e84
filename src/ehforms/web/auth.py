"""Signing in and out, and changing a one-time password.

A session is held by the core (``root.accounts``); the cookie holds only its random token.
Signing in always starts a new session (the token a browser brought is ended, never reused),
so nobody can fix a session for someone else to sign into.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from ehforms.accounts import Account, SignInRefused
from ehforms.web.app import first_page
from ehforms.web.forms import ChangePassword, SignIn, problems
from ehforms.web.security import clear_session_cookie, local_path, set_session_cookie

log = logging.getLogger("ehforms.web")
pages = Blueprint("auth", __name__)

REFUSED = "Enter a correct email address and password"


def _accounts() -> Any:
    return current_app.extensions["ehforms.root"].accounts


def _next() -> str | None:
    return local_path(request.args.get("next"))


def _signed_in(account: Account, token: str) -> ResponseReturnValue:
    target = (
        url_for("auth.change_password", next=_next())
        if account.must_change_password
        else _next() or first_page(account.role)
    )
    response = redirect(target)
    set_session_cookie(response, token)
    return response


@pages.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    form = SignIn()
    errors = []
    if form.validate_on_submit():
        accounts = _accounts()
        try:
            account = accounts.sign_in(
                str(form.email.data), str(form.password.data), request.remote_addr or ""
            )
        except SignInRefused:
            log.info("a sign-in was refused")
            form.email.errors = [REFUSED]
            errors = [{"text": REFUSED, "href": f"#{form.email.id}"}]
        else:
            if g.token:
                accounts.end_session(g.token)  # whatever session this browser had is over
            log.info("a %s signed in", account.role.value)
            return _signed_in(account, accounts.start_session(account))
    else:
        errors = problems(form)
    return render_template("sign_in.html", form=form, errors=errors)


@pages.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    # CSRFProtect has already refused a request without a valid token
    _accounts().end_session(g.token)
    session.clear()
    response = redirect(url_for("auth.signed_out"))
    clear_session_cookie(response)
    return response


@pages.get("/signed-out")
def signed_out() -> ResponseReturnValue:
    inactive = request.args.get("reason") == "inactive"
    return render_template(
        "signed_out.html",
        inactive=inactive,
        idle_minutes=f"{current_app.extensions['ehforms.root'].config.idle_minutes:g}",
        next=_next(),
    )


@pages.route("/change-password", methods=["GET", "POST"])
def change_password() -> ResponseReturnValue:
    account = g.account
    if not account.must_change_password:
        return redirect(_next() or first_page(account.role))
    form = ChangePassword()
    errors = []
    if form.validate_on_submit():
        accounts = _accounts()
        password = str(form.new_password.data)
        weakness = accounts.weakness(password)
        if weakness:
            form.new_password.errors = [weakness]
            errors = [{"text": weakness, "href": f"#{form.new_password.id}"}]
        else:
            accounts.set_password(account.email, password, one_time=False, by=account.email)
            fresh = accounts.get(account.email)
            log.info("a %s changed their one-time password", account.role.value)
            return _signed_in(fresh, accounts.start_session(fresh))
    else:
        errors = problems(form)
    return render_template("change_password.html", form=form, errors=errors)
