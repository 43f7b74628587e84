"""The web pages' sign-in, sessions and security rules, through Flask's test client."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest

from ehforms.core import Root
from web.web_support import (
    HUB,
    MANAGER,
    NEWCOMER,
    PASSWORD,
    PRACTITIONER,
    app_for,
    csrf_token,
    post,
    sign_in,
    text,
)

REFUSED = "Enter a correct email address and password"
CSP = (
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "script-src 'self' 'sha256-"
)


def session_cookie(response, name: str = "__Host-ehforms-session") -> str:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(name + "="):
            return header
    raise AssertionError(f"no {name} cookie set")


def token_of(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


def test_the_sign_in_page_has_the_contracts_fields_and_a_csrf_token(web_root):
    client = app_for(web_root).test_client()
    page = client.get("/sign-in")
    html = text(page)
    assert page.status_code == 200
    assert '<h1 class="govuk-heading-l">Sign in</h1>' in html
    assert re.search(r'<label[^>]*for="email"[^>]*>\s*Email address\s*</label>', html)
    assert re.search(r'<label[^>]*for="password"[^>]*>\s*Password\s*</label>', html)
    assert re.search(r"<button[^>]*>\s*Sign in\s*</button>", html)
    assert '<form method="post" novalidate>' in html
    assert csrf_token(html)
    assert "Example City Council" in html  # the council's own header
    assert "GOV.UK" not in html.split("<body", 1)[1]  # no crown, no GOV.UK logo


def test_empty_fields_are_listed_in_the_error_summary_linking_to_each_field(web_root):
    client = app_for(web_root).test_client()
    html = text(post(client, "/sign-in", {"email": "", "password": ""}))
    assert "There is a problem" in html
    assert '<a href="#email">Enter your email address</a>' in html
    assert '<a href="#password">Enter your password</a>' in html
    assert "<title>Error: Sign in" in html


def _refused_page(app, email: str, password: str, address: str) -> tuple[str, float]:
    """The page a refused sign-in gets (without its CSRF token and the email typed), and how
    long the POST took; from an address of its own, so no earlier failure delays it."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    token = csrf_token(text(client.get("/sign-in")))
    started = time.perf_counter()
    response = client.post(
        "/sign-in", data={"csrf_token": token, "email": email, "password": password}
    )
    took = time.perf_counter() - started
    assert response.status_code == 200
    html = re.sub(r'name="csrf_token" value="[^"]+"', "", text(response))
    return html.replace(email, "EMAIL"), took


def test_a_wrong_password_an_unknown_email_and_a_disabled_account_get_one_message(web_root):
    root = Root.open(web_root)
    root.accounts.disable(PRACTITIONER)
    root.close()
    app = app_for(web_root)
    _refused_page(app, HUB, "a first try warms the templates", "192.0.2.99")
    wrong, wrong_took = _refused_page(app, HUB, "not the password at all", "192.0.2.1")
    unknown, unknown_took = _refused_page(app, "nobody@example.gov.uk", "whatever", "192.0.2.2")
    disabled, disabled_took = _refused_page(app, PRACTITIONER, PASSWORD, "192.0.2.3")
    assert REFUSED in wrong
    assert wrong == unknown == disabled
    # the same work either way (an unknown email gets a dummy Argon2 check): comparable time
    quickest, slowest = sorted([wrong_took, unknown_took, disabled_took])[::2]
    assert slowest < 3 * quickest, (wrong_took, unknown_took, disabled_took)


def test_signing_in_sets_a_host_only_secure_httponly_lax_cookie_with_a_token(web_root):
    client = app_for(web_root).test_client()
    response = sign_in(client, HUB)
    assert response.status_code == 302
    assert response.headers["Location"] == "/mailboxes"
    cookie = session_cookie(response)
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "; SameSite=Lax" in cookie
    assert "; Path=/" in cookie and "Domain" not in cookie
    assert len(token_of(cookie)) >= 40 and HUB not in cookie
    assert client.get("/mailboxes").status_code == 200


def test_insecure_http_drops_the_prefix_and_secure(web_root):
    client = app_for(web_root, insecure_http=True).test_client()
    cookie = session_cookie(sign_in(client, HUB), "ehforms-session")
    assert "Secure" not in cookie and "; HttpOnly" in cookie
    assert client.get("/mailboxes").status_code == 200


def test_signing_in_always_starts_a_new_session(web_root):
    """Session fixation: a token the browser brought (planted, or an earlier session) is
    never the one signed in."""
    client = app_for(web_root).test_client()
    client.set_cookie("__Host-ehforms-session", "planted-by-someone-else")
    first = token_of(session_cookie(sign_in(client, HUB)))
    assert first != "planted-by-someone-else"
    second = token_of(session_cookie(sign_in(client, HUB)))
    assert second != first
    other = app_for(web_root).test_client()
    other.set_cookie("__Host-ehforms-session", first)
    assert other.get("/mailboxes").status_code == 302  # the earlier session has ended


def test_not_signed_in_goes_to_sign_in_and_back_to_a_local_path_only(web_root):
    client = app_for(web_root).test_client()
    response = client.get("/mailboxes/eh-central?page=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in?next=/mailboxes/eh-central?page%3D1"
    back = sign_in(client, HUB, next_path="/mailboxes/eh-central")
    assert back.headers["Location"] == "/mailboxes/eh-central"
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "mailboxes"):
        client = app_for(web_root).test_client()
        response = sign_in(client, HUB, next_path=target)
        assert response.headers["Location"] == "/mailboxes", target


def test_sign_out_is_a_post_with_a_csrf_token_and_ends_the_session(web_root):
    client = app_for(web_root).test_client()
    token = token_of(session_cookie(sign_in(client, HUB)))
    refused = client.post("/sign-out")  # no CSRF token
    assert refused.status_code == 400
    assert client.get("/mailboxes").status_code == 200  # still signed in
    assert client.get("/sign-out").status_code == 405
    response = post(client, "/sign-out", page="/mailboxes")
    assert response.headers["Location"] == "/signed-out"
    assert "__Host-ehforms-session=;" in session_cookie(response)
    assert "You have been signed out" in text(client.get("/signed-out"))
    again = app_for(web_root).test_client()
    again.set_cookie("__Host-ehforms-session", token)
    assert again.get("/mailboxes").headers["Location"].startswith("/sign-in")


def test_every_form_refuses_a_post_without_its_csrf_token(web_root):
    client = app_for(web_root).test_client()
    response = client.post("/sign-in", data={"email": HUB, "password": PASSWORD})
    assert response.status_code == 400
    assert "The page you sent from had expired" in text(response)
    assert client.get_cookie("__Host-ehforms-session") is None
    sign_in(client, MANAGER)
    assert client.post("/audit", data={"case": "EH-00388"}).status_code == 400
    forged = client.post("/audit", data={"case": "EH-00388", "csrf_token": "forged"})
    assert forged.status_code == 400


def test_a_one_time_password_must_be_changed_before_anything_else(web_root):
    client = app_for(web_root).test_client()
    response = sign_in(client, NEWCOMER, next_path="/mailboxes/eh-central")
    assert response.headers["Location"].startswith("/change-password")
    assert client.get("/mailboxes").headers["Location"].startswith("/change-password")
    page = "/change-password?next=/mailboxes/eh-central"
    html = text(client.get(page))
    assert "Change your password" in html and "New password" in html
    assert 'href="/mailboxes"' not in html and "Sign out" in html  # nowhere else to go yet
    assert "Confirm new password" in html
    short = text(post(client, page, {"new_password": "short", "confirm_password": "short"}))
    assert "Password must be 12 characters or more" in short
    common = text(
        post(client, page, {"new_password": "password1234", "confirm_password": "password1234"})
    )
    assert "Choose a password that is harder to guess" in common
    mismatch = {"new_password": "Velvet-Harbour-Kite-9", "confirm_password": "Velvet-Harbour"}
    assert "Enter the same password in both fields" in text(post(client, page, mismatch))
    chosen = {"new_password": "Velvet-Harbour-Kite-9", "confirm_password": "Velvet-Harbour-Kite-9"}
    done = post(client, page, chosen)
    assert done.headers["Location"] == "/mailboxes/eh-central"
    session_cookie(done)  # a new session for the new password
    assert client.get("/mailboxes/eh-central").status_code == 200
    fresh = app_for(web_root).test_client()
    assert REFUSED in text(sign_in(fresh, NEWCOMER, PASSWORD))
    assert sign_in(fresh, NEWCOMER, "Velvet-Harbour-Kite-9").headers["Location"] == "/mailboxes"


def test_a_session_idle_too_long_ends_on_the_signed_out_page(web_root):
    root = Root.open(web_root)
    client = app_for(web_root, root=root).test_client()
    sign_in(client, HUB)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=31)
    root.accounts.clock = lambda: later
    response = client.get("/mailboxes/eh-central")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/signed-out?")
    assert "reason=inactive" in response.headers["Location"]
    html = text(client.get(response.headers["Location"]))
    assert "You have been signed out" in html
    assert "had not used the service for 30 minutes" in html
    assert 'href="/sign-in?next=/mailboxes/eh-central"' in html


def test_the_contracts_headers_on_every_page(web_root):
    client = app_for(web_root).test_client()
    signed_out = client.get("/sign-in")
    sign_in(client, HUB)
    signed_in = client.get("/mailboxes")
    for response in (signed_out, signed_in):
        assert response.headers["Content-Security-Policy"].startswith(CSP)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
    assert signed_in.headers["Cache-Control"] == "no-store"


def test_the_csp_hash_is_that_of_the_pages_one_inline_script(web_root):
    import base64
    import hashlib

    response = app_for(web_root).test_client().get("/sign-in")
    scripts = re.findall(r"<script>(.*?)</script>", text(response), flags=re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]


def test_forwarded_headers_are_believed_only_from_the_trusted_proxy(web_root):
    def failed_from(app, remote: str) -> str:
        client = app.test_client()
        client.environ_base.update({"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": "203.0.113.9"})
        post(client, "/sign-in", {"email": HUB, "password": "wrong password here"})
        root = app.extensions["ehforms.root"]
        return root.audit.rows(limit=1)[0].detail

    assert failed_from(app_for(web_root), "192.0.2.1") == "192.0.2.1"
    trusting = app_for(web_root, trusted_proxy=["192.0.2.1"])
    assert failed_from(trusting, "192.0.2.1") == "203.0.113.9"
    assert failed_from(trusting, "192.0.2.2") == "192.0.2.2"


@pytest.mark.parametrize(
    ("email", "path"),
    [
        (PRACTITIONER, "/mailboxes"),
        (PRACTITIONER, "/mailboxes/eh-central"),
        (PRACTITIONER, "/audit"),
        (MANAGER, "/mailboxes/eh-central"),
        (MANAGER, "/mailboxes/no-such-mailbox"),
        (MANAGER, "/mailboxes/eh-central/01JZZZZZZZZZZZZZZZZZZZZZZZ"),
        (MANAGER, "/mailboxes/eh-central/01JZZZZZZZZZZZZZZZZZZZZZZZ/files/1"),
        (HUB, "/audit"),
    ],
)
def test_a_page_the_role_lacks_is_403_before_any_look_up(web_root, email, path):
    root = Root.open(web_root)

    def no_look_up(*_args, **_kwargs):
        raise AssertionError("looked up before the role was checked")

    root.mailbox = no_look_up
    root.form_view = no_look_up
    root.form_file = no_look_up
    root.counts = no_look_up
    client = app_for(web_root, root=root).test_client()
    sign_in(client, email)
    before = len(root.audit.rows(limit=500))
    response = client.get(path)
    assert response.status_code == 403
    assert "You do not have access to this page" in text(response)
    assert len(root.audit.rows(limit=500)) == before


def test_an_address_that_is_no_page_is_404_with_the_header_of_whoever_is_signed_in(web_root):
    client = app_for(web_root).test_client()
    anonymous = client.get("/no/such/page")
    assert anonymous.status_code == 404 and "Sign out" not in text(anonymous)
    sign_in(client, HUB)
    signed_in = client.get("/no/such/page")
    assert signed_in.status_code == 404
    assert "Page not found" in text(signed_in) and "Sign out" in text(signed_in)
