"""Sending one email over SMTP, never in the clear: STARTTLS or implicit TLS, the server's
certificate and host name checked (against the council's CA if set); a server that does not
take it raises :class:`SendFailed`, saying whether to try again."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ehforms.config import AlertSettings


class SendFailed(Exception):
    """The server did not take an email: ``result`` is ``failed`` (try again: no connection,
    a certificate that is not trusted, a busy server) or ``refused`` (the server said no)."""

    def __init__(self, result: str, reply: str) -> None:
        super().__init__(reply)
        self.result = result
        self.reply = reply


@dataclass
class Mailer:
    """Sends one email through the configured server, never in the clear."""

    settings: AlertSettings
    timeout: float = 30.0

    def context(self) -> ssl.SSLContext:
        # the server's certificate and host name are checked (against the council's CA if set)
        return ssl.create_default_context(cafile=self.settings.ca_file or None)

    def send(self, message: EmailMessage) -> str:
        """Hand the email to the server; the server's reply when it accepted it."""
        settings = self.settings
        try:
            smtp: smtplib.SMTP
            if settings.tls == "implicit":
                smtp = smtplib.SMTP_SSL(
                    settings.host, settings.port, timeout=self.timeout, context=self.context()
                )
            else:
                smtp = smtplib.SMTP(settings.host, settings.port, timeout=self.timeout)
            try:
                if settings.tls != "implicit":
                    smtp.ehlo()
                    smtp.starttls(context=self.context())  # raises if not offered: never clear
                    smtp.ehlo()
                if settings.username:
                    smtp.login(settings.username, settings.password)
                refused = smtp.send_message(message)
            finally:
                # the server has the email (or has said no): a fault saying goodbye changes
                # nothing, and must not make an accepted email look failed
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    smtp.quit()
                smtp.close()
            if refused:
                return f"accepted, but not for {len(refused)} address(es): " + "; ".join(
                    f"{c} {_text(r)}" for c, r in refused.values()
                )
            return "accepted"
        except smtplib.SMTPRecipientsRefused as error:
            raise SendFailed("refused", _replies(error.recipients.values())) from None
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as error:
            permanent = 500 <= error.smtp_code < 600
            raise SendFailed(
                "refused" if permanent else "failed",
                f"{error.smtp_code} {_text(error.smtp_error)}",
            ) from None
        except smtplib.SMTPAuthenticationError as error:
            raise SendFailed(
                "refused",
                f"{error.smtp_code} sign-in refused: check alerts.username and "
                "EHFORMS_SMTP_PASSWORD",
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise SendFailed("failed", "the server does not offer STARTTLS: nothing sent") from None
        except ssl.SSLCertVerificationError as error:
            raise SendFailed(
                "failed", f"the server's certificate is not trusted ({error.verify_message})"
            ) from None
        except (ssl.SSLError, smtplib.SMTPException, OSError) as error:
            raise SendFailed("failed", f"{type(error).__name__}: {error}") from None


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def _replies(replies: Iterable[tuple[int, bytes]]) -> str:
    return "; ".join(f"{code} {_text(text)}" for code, text in replies)
