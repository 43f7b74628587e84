"""Alerts by email, against a real SMTP server on loopback (aiosmtpd, with certificates made
here): what an email says and never says, TLS, retries, batching, restarts, the digest.

Times are passed in (a clock for the dispatcher), never slept through."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import json
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import aiosmtpd.controller as aiosmtpd_controller  # a test dependency: never skipped
import pytest

from conftest import RECEIVED, load_example
from ehforms.alerting import Dispatcher
from ehforms.alerts import Mailer, Queue, backoff
from ehforms.config import load_config
from ehforms.errors import ConfigError
from ehforms.ledger import Ledger
from ehforms.pipeline import Postroom
from ehforms.receipts import Receipt
from ehforms.routing import Priority, Status
from helpers import drop, make_root
from ledgers import ledger_at

# what the MARF fixture says of the family: none of it may appear in an email
PERSONAL = ("Kai", "Morgan", "Lisa", "EH-00388", "2012-06-18", "MC199004", "Sam Reid", "M8 5AB")
PERSONAL += ("m8 5ab", "Sample Close", "marf.json", "18/06/2012")


# -- certificates and the server ------------------------------------------------------------


@dataclasses.dataclass
class Certs:
    ca_file: Path
    cert: Path
    key: Path
    stranger_cert: Path  # signed by a CA the client does not trust
    stranger_key: Path


def _certificate(folder: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signs for 127.0.0.1 and localhost: (ca, cert, key) files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = (folder / f"{name}-ca.pem", folder / f"{name}.pem", folder / f"{name}-key.pem")
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(cert.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    folder = tmp_path_factory.mktemp("certs")
    ca_file, cert, key = _certificate(folder, "council")
    _, stranger_cert, stranger_key = _certificate(folder, "stranger")
    return Certs(ca_file, cert, key, stranger_cert, stranger_key)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Recorder:
    """The SMTP server's handler: keeps every message; refuses the addresses in ``refuse``."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "raw": envelope.content,
                "tls": session.ssl is not None
                or server.transport.get_extra_info("ssl_object") is not None,
                "message": email.message_from_bytes(envelope.content, policy=email.policy.default),
            }
        )
        return "250 2.0.0 accepted"


class Server:
    """aiosmtpd on 127.0.0.1: STARTTLS required, or implicit TLS; started and always stopped."""

    def __init__(self, certs: Certs, *, implicit=False, stranger=False, port=None, plain=False):
        self.recorder = Recorder()
        self.port = port or free_port()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        if stranger:
            context.load_cert_chain(certs.stranger_cert, certs.stranger_key)
        else:
            context.load_cert_chain(certs.cert, certs.key)
        options: dict[str, Any]
        if plain:
            options = {}
        elif implicit:
            options = {"ssl_context": context}
        else:
            options = {"tls_context": context, "require_starttls": True}
        self.controller = _Controller(
            self.recorder, hostname="127.0.0.1", port=self.port, **options
        )

    def __enter__(self) -> Server:
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.recorder.messages


class _Controller(aiosmtpd_controller.Controller):
    def _trigger_server(self) -> None:
        # aiosmtpd wraps its start-up probe with the server's own context, which a client
        # cannot use: a plain connection is enough to know it listens (implicit TLS included)
        with socket.create_connection((self.hostname, self.port), 1.0):
            pass


# -- a root with alerts set up --------------------------------------------------------------


def alert_settings(port: int, certs: Certs, **more: str) -> dict[str, str]:
    return {
        "EHFORMS_ALERTS__HOST": "127.0.0.1",
        "EHFORMS_ALERTS__PORT": str(port),
        "EHFORMS_ALERTS__FROM": "ehforms@council.example",
        "EHFORMS_ALERTS__CA_FILE": str(certs.ca_file),
        "EHFORMS_ALERTS__BASE_URL": "https://ehforms.council.example/",
        "EHFORMS_ALERTS__TO__MASH": '["mash-duty@council.example", "mash-lead@council.example"]',
        "EHFORMS_ALERTS__TO__EH-CENTRAL": '["central-hub@council.example"]',
        **more,
    }


def urgent_marf(root: Path, config, name: str = "marf.json") -> str:
    """A MARF put through the pipeline (urgent, to mash and sw-north); its submission id."""
    drop(root, name, load_example("marf"))
    with Postroom(root, config, workers=1, clock=lambda: RECEIVED) as room:
        (result,) = room.run()
    assert result.outcome is not None
    return result.outcome.receipt.submission_id


def dispatcher(root: Path, config, ledger: Ledger) -> Dispatcher:
    return Dispatcher(root, config, ledger.engine, timeout=5.0)


def opened(root: Path) -> Ledger:
    return Ledger(ledger_at(root))


T0 = dt.datetime(2026, 11, 24, 9, 0, 30, tzinfo=dt.UTC)


def later(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def no_personal_data(message: dict[str, Any]) -> None:
    raw = message["raw"].decode()
    for text in PERSONAL:
        assert text.lower() not in raw.lower(), text


# -- the configuration ----------------------------------------------------------------------


class TestSettings:
    def test_without_a_host_nothing_is_set_up_and_nothing_queued(self, tmp_path):
        config = make_root(tmp_path)
        assert config.alerts is None
        urgent_marf(tmp_path, config)
        ledger = opened(tmp_path)
        try:
            assert Queue(ledger.engine).count_unsent() == 0
            assert Queue(ledger.engine).unsent() == []
        finally:
            ledger.close()

    def test_the_password_comes_from_the_environment_and_is_never_shown(self, tmp_path, certs):
        config = make_root(
            tmp_path, alert_settings(25, certs, EHFORMS_SMTP_PASSWORD="hunter2-synthetic")
        )
        assert config.alerts is not None
        assert config.alerts.password == "hunter2-synthetic"
        assert "hunter2" not in repr(config.alerts)
        assert config.alerts.to["mash"] == (
            "mash-duty@council.example",
            "mash-lead@council.example",
        )
        assert config.alerts.base_url == "https://ehforms.council.example"  # no trailing slash

    def test_a_password_in_the_toml_file_is_refused_without_printing_it(self, tmp_path):
        make_root(tmp_path)
        with (tmp_path / "ehforms.toml").open("a") as handle:
            handle.write("\n[alerts.smtp]\n")  # any table after [alerts] is fine
        text = (tmp_path / "ehforms.toml").read_text()
        text = text.replace('host = ""', 'host = "smtp.council.example"\npassword = "s3cret-x"')
        text = text.replace('from = ""', 'from = "ehforms@council.example"')
        (tmp_path / "ehforms.toml").write_text(text)
        with pytest.raises(ConfigError) as refused:
            load_config(tmp_path, environ={})
        assert "s3cret-x" not in str(refused.value)
        assert "EHFORMS_SMTP_PASSWORD" in str(refused.value)

    @pytest.mark.parametrize(
        ("key", "value", "words"),
        [
            ("TLS", "ssl", 'alerts.tls must be "starttls" or "implicit"'),
            ("FROM", "nobody", "alerts.from must be the email address"),
            ("TO__NOWHERE", '["a@council.example"]', "alerts.to.nowhere names a mailbox that does not exist"),
            ("TO__MASH", '["not an address"]', "alerts.to.mash must be a list of email"),
            ("DIGEST_TIME", "eight", "alerts.digest_time must be a time of day"),
            ("CA_FILE", "/nonexistent/ca.pem", "which does not exist: correct the path"),
        ],
    )
    def test_a_wrong_setting_says_what_to_do(self, tmp_path, certs, key, value, words):
        settings = alert_settings(25, certs, **{f"EHFORMS_ALERTS__{key}": value})
        with pytest.raises(ConfigError) as wrong:
            load_config(tmp_path, environ=settings)
        assert words in str(wrong.value)
        assert "invalid" not in str(wrong.value).lower()
        assert "please" not in str(wrong.value).lower()

    def test_the_smtp_password_is_not_a_configuration_key(self):
        config = load_config(
            None, environ={"EHFORMS_SMTP_PASSWORD": "x", "EHFORMS_LEDGER_PASSWORD": "y"}
        )
        assert config.alerts is None  # and no unknown top-level key smtp_password was made


# -- sending ------------------------------------------------------------------------------


class TestSending:
    def test_an_urgent_form_is_emailed_over_starttls_with_no_personal_data(self, tmp_path, certs):
        with Server(certs) as server:
            config = make_root(tmp_path, alert_settings(server.port, certs))
            submission_id = urgent_marf(tmp_path, config)
            ledger = opened(tmp_path)
            try:
                queue = Queue(ledger.engine)
                assert queue.count_unsent() == 1  # mash has addresses; sw-north has none
                sent = dispatcher(tmp_path, config, ledger).tick(T0)
                assert sent == [("mash", "alert", 1)]
                assert queue.count_unsent() == 0
                (attempt,) = queue.attempts()
            finally:
                ledger.close()
        (message,) = server.messages
        assert message["tls"]
        assert message["from"] == "ehforms@council.example"
        assert sorted(message["to"]) == ["mash-duty@council.example", "mash-lead@council.example"]
        parsed = message["message"]
        assert parsed["Subject"] == "Urgent: Multi-Agency Referral Form in the MASH mailbox"
        body = parsed.get_content()
        assert "An urgent form has arrived in the MASH mailbox." in body
        assert "Received: 24/11/2026 09:00" in body  # London time (GMT in November)
        assert f"Submission: {submission_id}" in body
        assert f"https://ehforms.council.example/mailboxes/mash/{submission_id}" in body
        no_personal_data(message)
        assert attempt["result"] == "sent" and attempt["kind"] == "alert"
        assert attempt["items"] == 1

    def test_implicit_tls(self, tmp_path, certs):
        with Server(certs, implicit=True) as server:
            config = make_root(
                tmp_path, alert_settings(server.port, certs, EHFORMS_ALERTS__TLS="implicit")
            )
            urgent_marf(tmp_path, config)
            ledger = opened(tmp_path)
            try:
                assert dispatcher(tmp_path, config, ledger).tick(T0) == [("mash", "alert", 1)]
            finally:
                ledger.close()
        (message,) = server.messages
        assert message["tls"]
        no_personal_data(message)

    def test_a_certificate_the_client_does_not_trust_is_refused_recorded_and_retried(
        self, tmp_path, certs
    ):
        with Server(certs, stranger=True) as server:
            config = make_root(tmp_path, alert_settings(server.port, certs))
            urgent_marf(tmp_path, config)
            ledger = opened(tmp_path)
            try:
                queue = Queue(ledger.engine)
                sending = dispatcher(tmp_path, config, ledger)
                assert sending.tick(T0) == []
                assert sending.tick(later(4)) == []  # waits 5 s
                assert sending.tick(later(5)) == []  # tried again, refused again
                attempts = queue.attempts()
                (pending,) = queue.unsent()
            finally:
                ledger.close()
        assert server.messages == []  # never sent, in the clear or otherwise
        assert [a["result"] for a in attempts] == ["failed", "failed"]
        assert "certificate is not trusted" in attempts[0]["reply"]
        assert pending.tries == 2
        assert pending.next_at == later(5) + dt.timedelta(seconds=10)  # 5 s, then 10 s

    def test_a_server_without_starttls_gets_nothing(self, tmp_path, certs):
        with Server(certs, plain=True) as server:
            config = make_root(tmp_path, alert_settings(server.port, certs))
            urgent_marf(tmp_path, config)
            ledger = opened(tmp_path)
            try:
                assert dispatcher(tmp_path, config, ledger).tick(T0) == []
                (attempt,) = Queue(ledger.engine).attempts()
            finally:
                ledger.close()
        assert server.messages == []
        assert "does not offer STARTTLS" in attempt["reply"]

    def test_the_server_down_then_up_sends_once_after_the_retry(self, tmp_path, certs):
        port = free_port()
        config = make_root(tmp_path, alert_settings(port, certs))
        urgent_marf(tmp_path, config)
        ledger = opened(tmp_path)
        try:
            sending = dispatcher(tmp_path, config, ledger)
            assert sending.tick(T0) == []  # nothing listens
            with Server(certs, port=port) as server:
                assert sending.tick(later(2)) == []  # not before 5 s
                assert sending.tick(later(5)) == [("mash", "alert", 1)]
                assert sending.tick(later(70)) == []
            results = [a["result"] for a in Queue(ledger.engine).attempts()]
        finally:
            ledger.close()
        assert len(server.messages) == 1
        assert results == ["failed", "sent"]

    def test_a_refused_recipient_is_recorded_and_tried_again_with_backoff(self, tmp_path, certs):
        with Server(certs) as server:
            server.recorder.refuse = {"mash-duty@council.example", "mash-lead@council.example"}
            config = make_root(tmp_path, alert_settings(server.port, certs))
            urgent_marf(tmp_path, config)
            ledger = opened(tmp_path)
            try:
                queue = Queue(ledger.engine)
                sending = dispatcher(tmp_path, config, ledger)
                sending.tick(T0)
                sending.tick(later(5))
                attempts = queue.attempts()
                assert queue.count_unsent() == 1  # status shows it until the address works
                server.recorder.refuse = set()  # the council fixed the address
                assert sending.tick(later(5 + 10)) == [("mash", "alert", 1)]
            finally:
                ledger.close()
        assert [a["result"] for a in attempts] == ["refused", "refused"]
        assert "550" in attempts[0]["reply"]
        assert "council.example" not in attempts[0]["reply"]  # addresses are taken out
        assert len(server.messages) == 1

    def test_one_refused_address_of_two_still_counts_as_sent(self, tmp_path, certs):
        with Server(certs) as server:
            server.recorder.refuse = {"mash-lead@council.example"}
            config = make_root(tmp_path, alert_settings(server.port, certs))
            urgent_marf(tmp_path, config)
            ledger = opened(tmp_path)
            try:
                assert dispatcher(tmp_path, config, ledger).tick(T0) == [("mash", "alert", 1)]
                (attempt,) = Queue(ledger.engine).attempts()
            finally:
                ledger.close()
        assert server.messages[0]["to"] == ["mash-duty@council.example"]
        assert "not for 1 address" in attempt["reply"]

    def test_backoff_doubles_from_5_to_at_most_60_seconds(self):
        assert [backoff(n) for n in range(1, 8)] == [5, 10, 20, 40, 60, 60, 60]


# -- batching and restarts ---------------------------------------------------------------


def fake_urgent(n: int, received: dt.datetime) -> Receipt:
    """An urgent MARF's receipt as the pipeline makes it, for a burst without rendering."""
    from ulid import ULID

    return Receipt(
        submission_id=str(ULID.from_datetime(received)),
        source=f"marf-{n}.json",
        sha256=f"{n:064x}",
        received_at=received,
        status=Status.ROUTED,
        form_type="marf",
        mailboxes=("mash", "sw-north"),
        priority=Priority.URGENT,
    )


class TestBatching:
    def test_a_burst_of_200_urgent_forms_to_one_mailbox_is_two_emails(self, tmp_path, certs):
        with Server(certs) as server:
            config = make_root(tmp_path, alert_settings(server.port, certs))
            Postroom(tmp_path, config, workers=1).close()  # makes the ledger
            ledger = opened(tmp_path)
            ledger.alert_to = frozenset(config.alerts.to)
            try:
                sending = dispatcher(tmp_path, config, ledger)
                receipts = [fake_urgent(n, RECEIVED + dt.timedelta(seconds=n)) for n in range(200)]
                sent = []
                for group in range(0, 200, 32):  # as the pipeline records them, over 42 s
                    ledger.done_many(
                        (r, f"folder-{r.submission_id}", None, None)
                        for r in receipts[group : group + 32]
                    )
                    sent += sending.tick(later(group // 32 * 7))
                sent += sending.tick(later(60))
                sent += sending.tick(later(200))
                # the same outcomes recorded again (a restart after the ledger) queue nothing
                ledger.done_many((r, "again", None, None) for r in receipts)
                sent += sending.tick(later(400))
            finally:
                ledger.close()
        assert sent == [("mash", "alert", 32), ("mash", "alert", 168)]
        assert len(server.messages) == 2
        listed = []
        for message in server.messages:
            body = message["message"].get_content()
            listed += [line.split(": ")[1] for line in body.splitlines() if "Submission:" in line]
        assert sorted(listed) == sorted(r.submission_id for r in receipts)
        assert server.messages[1]["message"]["Subject"] == "Urgent: 168 forms in the MASH mailbox"

    def test_forms_within_the_minute_go_together_at_its_end(self, tmp_path, certs):
        with Server(certs) as server:
            config = make_root(tmp_path, alert_settings(server.port, certs))
            Postroom(tmp_path, config, workers=1).close()
            ledger = opened(tmp_path)
            ledger.alert_to = frozenset(config.alerts.to)
            try:
                sending = dispatcher(tmp_path, config, ledger)
                one, two, three = (
                    fake_urgent(n, RECEIVED + dt.timedelta(minutes=n)) for n in range(3)
                )
                ledger.done(one, "f1", None, None)
                assert sending.tick(T0) == [("mash", "alert", 1)]  # the first: at once
                ledger.done(two, "f2", None, None)
                assert sending.tick(later(20)) == []
                ledger.done(three, "f3", None, None)
                assert sending.tick(later(59)) == []
                assert sending.tick(later(60)) == [("mash", "alert", 2)]  # the minute's end
            finally:
                ledger.close()
        assert len(server.messages) == 2

    def test_a_restart_mid_queue_sends_nothing_twice(self, tmp_path, certs):
        with Server(certs) as server:
            config = make_root(tmp_path, alert_settings(server.port, certs))
            Postroom(tmp_path, config, workers=1).close()
            receipts = [fake_urgent(n, RECEIVED + dt.timedelta(seconds=n)) for n in range(8)]
            ledger = opened(tmp_path)
            ledger.alert_to = frozenset(config.alerts.to)
            ledger.done_many((r, "f", None, None) for r in receipts[:5])
            assert dispatcher(tmp_path, config, ledger).tick(T0) == [("mash", "alert", 5)]
            ledger.done_many((r, "f", None, None) for r in receipts[5:])
            ledger.close()  # stopped with three queued
            ledger = opened(tmp_path)  # started again
            try:
                again = dispatcher(tmp_path, config, ledger)
                assert again.tick(later(30)) == []  # within the minute of the last email
                assert again.tick(later(61)) == [("mash", "alert", 3)]
                assert again.tick(later(200)) == []
            finally:
                ledger.close()
        ids = [
            line.split(": ")[1]
            for m in server.messages
            for line in m["message"].get_content().splitlines()
            if "Submission:" in line
        ]
        assert sorted(ids) == sorted(r.submission_id for r in receipts)

    def test_a_stop_after_the_server_accepted_sends_it_again_once_saying_so(self, tmp_path, certs):
        """The window between the server's "accepted" and the ledger's record: the email goes
        again after a restart (never lost), with the same Message-ID and a line saying it may
        repeat; then never again."""

        class Killed(BaseException):
            pass

        class DiesAfterSending(Mailer):
            def send(self, message):
                super().send(message)
                raise Killed  # the process stops before the ledger hears

        with Server(certs) as server:
            config = make_root(tmp_path, alert_settings(server.port, certs))
            urgent_marf(tmp_path, config)
            ledger = opened(tmp_path)
            try:
                dying = Dispatcher(
                    tmp_path, config, ledger.engine, mailer=DiesAfterSending(config.alerts)
                )
                with pytest.raises(Killed):
                    dying.tick(T0)
                again = dispatcher(tmp_path, config, ledger)
                assert again.tick(later(1)) == [("mash", "alert", 1)]
                assert again.tick(later(100)) == []
            finally:
                ledger.close()
        first, second = server.messages
        assert first["message"]["Message-ID"] == second["message"]["Message-ID"]
        assert "may repeat one you already have" in second["message"].get_content()


# -- the digest ---------------------------------------------------------------------------


def london(day: int, hour: int, minute: int = 0) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime(2026, 11, day, hour, minute, tzinfo=ZoneInfo("Europe/London"))


def digest_root(tmp_path: Path, port: int, certs: Certs):
    """A MARF (due 26/11 09:00 in mash) and a transfer (due 26/11 09:30 in eh-central)."""
    config = make_root(tmp_path, alert_settings(port, certs))
    drop(tmp_path, "marf.json", load_example("marf"))
    drop(tmp_path, "transfer.json", load_example("transfer"))
    with Postroom(tmp_path, config, workers=1, clock=lambda: RECEIVED) as room:
        room.run()
    return config


class TestDigest:
    def test_once_a_day_at_digest_time_and_none_when_nothing_is_overdue(self, tmp_path, certs):
        with Server(certs) as server:
            config = digest_root(tmp_path, server.port, certs)
            ledger = opened(tmp_path)
            try:
                sending = dispatcher(tmp_path, config, ledger)
                assert sending.send_digests(london(26, 8)) == []  # nothing overdue yet
                assert sending.send_digests(london(27, 7, 59)) == []  # before digest_time
                assert sorted(sending.send_digests(london(27, 8))) == [
                    ("eh-central", "digest", 1),
                    ("mash", "digest", 1),
                ]
                assert sending.send_digests(london(27, 8, 1)) == []
                assert sending.send_digests(london(27, 17)) == []
                # the next day: the MARF is handled (moved into done/), the transfer waits
                (folder,) = [
                    p for p in (tmp_path / "outbox" / "mash").iterdir() if p.name != "done"
                ]
                folder.rename(tmp_path / "outbox" / "mash" / "done" / folder.name)
                assert sending.send_digests(london(28, 8)) == [("eh-central", "digest", 1)]
            finally:
                ledger.close()
        digests = [m for m in server.messages]
        assert len(digests) == 3
        mash = next(m for m in digests if "mash-duty@council.example" in m["to"])
        assert mash["message"]["Subject"] == (
            "Overdue in the MASH mailbox: 1 form (Friday 27 November 2026)"
        )
        body = mash["message"].get_content()
        assert "Multi-Agency Referral Form" in body
        assert "Due: 26/11/2026 09:00" in body
        for message in digests:
            no_personal_data(message)

    def test_a_watcher_started_after_digest_time_sends_that_days_digest_once(self, tmp_path, certs):
        with Server(certs) as server:
            config = digest_root(tmp_path, server.port, certs)
            ledger = opened(tmp_path)
            try:
                late = dispatcher(tmp_path, config, ledger)
                assert sorted(late.tick(london(27, 11, 30))) == [
                    ("eh-central", "digest", 1),
                    ("mash", "alert", 1),  # the MARF's urgent alert, still queued
                    ("mash", "digest", 1),
                ]
                ledger.close()
                ledger = opened(tmp_path)  # stopped and started again the same day
                assert dispatcher(tmp_path, config, ledger).tick(london(27, 14)) == []
            finally:
                ledger.close()
        assert len(server.messages) == 3

    def test_a_digest_that_fails_is_tried_again(self, tmp_path, certs):
        port = free_port()
        config = digest_root(tmp_path, port, certs)
        ledger = opened(tmp_path)
        try:
            sending = dispatcher(tmp_path, config, ledger)
            assert sending.send_digests(london(27, 8)) == []  # nothing listens
            # two digests and the MARF's urgent alert wait
            assert Queue(ledger.engine).count_unsent() == 3
            with Server(certs, port=port) as server:
                assert sending.send_digests(london(27, 8, 0) + dt.timedelta(seconds=3)) == []
                assert len(sending.send_digests(london(27, 8, 0) + dt.timedelta(seconds=5))) == 2
            assert Queue(ledger.engine).count_unsent() == 1  # the alert (send_alerts not run)
        finally:
            ledger.close()
        assert len(server.messages) == 2


# -- the watcher ----------------------------------------------------------------------------


def test_watch_sends_an_alert_from_a_thread_of_its_own(tmp_path, certs):
    import helpers

    fast = {
        "EHFORMS_WATCH__QUIET_SECONDS": "0.3",
        "EHFORMS_WATCH__RESCAN_SECONDS": "0.3",
        "EHFORMS_WATCH__HEARTBEAT_SECONDS": "0.2",
        # no digest today in this test: the fixtures' forms are not overdue before the 26th
    }
    with Server(certs) as server:
        running = helpers.Running(tmp_path, fast, environ=alert_settings(server.port, certs))
        with running:
            drop(tmp_path, "marf.json", load_example("marf"))
            deadline = time.monotonic() + 30
            while not server.messages and time.monotonic() < deadline:
                time.sleep(0.05)
        assert running.watcher.alerts is not None
    assert len(server.messages) == 1
    no_personal_data(server.messages[0])


def test_process_only_queues(tmp_path, certs):
    with Server(certs) as server:
        config = make_root(tmp_path, alert_settings(server.port, certs))
        urgent_marf(tmp_path, config)
    assert server.messages == []
    ledger = opened(tmp_path)
    try:
        (pending,) = Queue(ledger.engine).unsent()
    finally:
        ledger.close()
    assert pending.mailbox == "mash" and pending.item.title.startswith("Multi-Agency")
    assert json.dumps(dataclasses.asdict(pending), default=str).count("Kai") == 0


# -- the command line ---------------------------------------------------------------------


class TestCommands:
    def test_digest_sends_now_and_says_what_it_sent(self, tmp_path, certs, monkeypatch):
        from click.testing import CliRunner

        from ehforms.cli import cli

        with Server(certs) as server:
            digest_root(tmp_path, server.port, certs)
            for name, value in alert_settings(server.port, certs).items():
                monkeypatch.setenv(name, value)
            runner = CliRunner()
            early = runner.invoke(
                cli, ["digest", "--root", str(tmp_path), "--now", "2026-11-25T09:00Z"]
            )
            assert early.exit_code == 0, early.output
            assert early.output == "Nothing is overdue: no digest sent\n"
            result = runner.invoke(
                cli, ["digest", "--root", str(tmp_path), "--now", "2026-11-27T06:00Z"]
            )
            assert result.exit_code == 0, result.output
            assert sorted(result.output.splitlines()) == [
                "eh-central: sent the digest (1 overdue)",
                "mash: sent the digest (1 overdue)",
            ]
            # that day's digest is sent: a watcher at 08:00 sends no other
            ledger = opened(tmp_path)
            try:
                config = load_config(tmp_path)
                sent = dispatcher(tmp_path, config, ledger).send_digests(london(27, 8, 5))
            finally:
                ledger.close()
            assert sent == []
        assert len(server.messages) == 2

    def test_digest_without_alerts_set_up_says_what_to_do(self, tmp_path):
        from click.testing import CliRunner

        from ehforms.cli import cli

        make_root(tmp_path)
        result = CliRunner().invoke(cli, ["digest", "--root", str(tmp_path)])
        assert result.exit_code == 1
        assert result.stderr == (
            "Alerts by email are not set up: add an [alerts] table with host, from and to "
            "addresses to ehforms.toml (see docs/alerts.md)\n"
        )

    def test_a_digest_that_cannot_be_sent_exits_1_and_says_watch_tries_again(
        self, tmp_path, certs, monkeypatch
    ):
        from click.testing import CliRunner

        from ehforms.cli import cli

        port = free_port()
        digest_root(tmp_path, port, certs)
        for name, value in alert_settings(port, certs).items():
            monkeypatch.setenv(name, value)
        result = CliRunner().invoke(
            cli, ["digest", "--root", str(tmp_path), "--now", "2026-11-27T06:00Z"]
        )
        assert result.exit_code == 1
        assert "mash: the digest could not be sent (ConnectionRefusedError" in result.stderr
        assert "watch tries it again" in result.stderr
        assert "Traceback" not in result.output

    def test_status_counts_unsent_alerts(self, tmp_path, certs, monkeypatch):
        from click.testing import CliRunner

        from ehforms.cli import cli

        port = free_port()
        config = make_root(tmp_path, alert_settings(port, certs))
        urgent_marf(tmp_path, config)
        for name, value in alert_settings(port, certs).items():
            monkeypatch.setenv(name, value)
        runner = CliRunner()
        as_json = runner.invoke(cli, ["status", "--root", str(tmp_path), "--json"])
        assert as_json.exit_code == 0, as_json.output
        assert json.loads(as_json.output)["alerts_unsent"] == 1
        text = runner.invoke(cli, ["status", "--root", str(tmp_path)])
        assert "Unsent alerts: 1\n" in text.output
        from ehforms.core import Root

        with Root.open(tmp_path) as root:  # what the mailbox pages can show
            assert root.alerts_unsent_by_mailbox() == {"mash": 1}
        with Server(certs, port=port):
            ledger = opened(tmp_path)
            try:
                dispatcher(tmp_path, config, ledger).tick(T0)
            finally:
                ledger.close()
        text = runner.invoke(cli, ["status", "--root", str(tmp_path)])
        assert "Unsent alerts: 0\n" in text.output
        with Root.open(tmp_path) as root:
            assert root.alerts_unsent_by_mailbox() == {}

    def test_status_says_nothing_of_alerts_when_none_are_set_up(self, tmp_path):
        from click.testing import CliRunner

        from ehforms.cli import cli

        make_root(tmp_path)
        result = CliRunner().invoke(cli, ["status", "--root", str(tmp_path), "--json"])
        summary = json.loads(result.output)
        assert summary["alerts_unsent"] == 0 and summary["alerts_set_up"] is False
        text = CliRunner().invoke(cli, ["status", "--root", str(tmp_path)])
        assert "alert" not in text.output.lower()


# -- forms that have waited longer than review_days -----------------------------------------


class TestReview:
    def test_the_digest_flags_forms_waiting_longer_than_review_days(self, tmp_path, certs):
        with Server(certs) as server:
            config = make_root(
                tmp_path, alert_settings(server.port, certs, EHFORMS_ALERTS__REVIEW_DAYS="2")
            )
            assert config.review_days == 2
            drop(tmp_path, "rfas.json", load_example("rfas"))  # eh-central, no due
            drop(tmp_path, "transfer.json", load_example("transfer"))  # eh-central, due 26/11
            with Postroom(tmp_path, config, workers=1, clock=lambda: RECEIVED) as room:
                room.run()
            ledger = opened(tmp_path)
            try:
                sending = dispatcher(tmp_path, config, ledger)
                # 25/11: nothing overdue, nothing waited 2 days: no digest
                assert sending.send_digests(london(25, 8)) == []
                # 27/11: the transfer is overdue, and both have waited more than 2 days
                assert sending.send_digests(london(27, 8)) == [("eh-central", "digest", 2)]
            finally:
                ledger.close()
        (message,) = server.messages
        assert message["message"]["Subject"] == (
            "Overdue in the Central Early Help Hub mailbox: 1 form (Friday 27 November 2026)"
        )
        body = message["message"].get_content()
        assert "1 form in the Central Early Help Hub mailbox is overdue." in body
        assert (
            "2 forms in the Central Early Help Hub mailbox have waited more than 2 days. Nothing deletes "
            "them: review whether each is still needed." in body
        )
        assert body.count("Request for Additional Services") == 1  # waited long, not overdue
        assert body.count("Transfer to Early Help") == 2  # overdue, and waited long
        no_personal_data(message)

    def test_status_flags_forms_waiting_longer_than_review_days(self, tmp_path):
        from click.testing import CliRunner

        from ehforms.cli import cli

        config = make_root(tmp_path, {"EHFORMS_ALERTS__REVIEW_DAYS": "90"})
        drop(tmp_path, "rfas.json", load_example("rfas"))
        with Postroom(tmp_path, config, workers=1, clock=lambda: RECEIVED) as room:
            room.run()
        runner = CliRunner()
        soon = runner.invoke(
            cli, ["status", "--root", str(tmp_path), "--json", "--at", "2027-02-20T09:00Z"]
        )
        assert json.loads(soon.output)["waited_long"] == {}
        late = runner.invoke(
            cli, ["status", "--root", str(tmp_path), "--json", "--at", "2027-02-23T09:00Z"]
        )
        assert json.loads(late.output)["waited_long"] == {"eh-central": 1}
        text = runner.invoke(cli, ["status", "--root", str(tmp_path), "--at", "2027-02-23T09:00Z"])
        assert (
            "Waiting more than 90 days: eh-central 1 (nothing deletes them: review whether each "
            "is still needed)\n" in text.output
        )
