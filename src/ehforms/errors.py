"""The library's own errors. Only ``cli`` turns them into messages and exit codes."""

from __future__ import annotations


class EhformsError(Exception):
    """Base class: the message is written for the person running the tool."""


class ConfigError(EhformsError):
    """The configuration cannot be used (a bad TOML file or environment value)."""


class IntakeError(EhformsError):
    """A file cannot be read as a form (not JSON, too large, not an object...)."""


class RootError(EhformsError):
    """The working root is missing or is not laid out as ``ehforms init`` makes it."""


class DeliveryError(EhformsError):
    """A form could not be written to its mailbox; it stays claimed and is retried."""


class RenderError(EhformsError):
    """A document could not be rendered from its template."""


class ClaimError(EhformsError):
    """A file in the inbox could not be taken (locked by another program, no permission); it
    stays in the inbox and is tried again."""


class LedgerError(EhformsError):
    """The ledger cannot be used just now, or at all. The message says which and why."""


class LedgerBusy(LedgerError):
    """Another program holds the ledger past the busy timeout: try again later."""


class LedgerUnreachable(LedgerError):
    """The ledger's PostgreSQL server cannot be reached, or refused ehforms' sign-in."""


class LedgerFull(LedgerError):
    """The disk holding the ledger is full: try again once there is room."""


class NotFound(EhformsError):
    """What was asked for is not there (a mailbox, a form in it, a file of a form)."""


class AlreadyHandled(EhformsError):
    """A mailbox copy was marked handled before: by a person through the pages, or (``by``
    None) by someone who moved its folder into ``done/`` on the share."""

    def __init__(self, by: str | None) -> None:
        self.by = by
        super().__init__(
            f"Already marked as handled by {by}" if by else "Already marked as handled"
        )


class FolderBusy(EhformsError):
    """A form's folder could not be moved (a file in it is open on the share); it stays."""


class NotFinished(EhformsError):
    """The watcher has not finished this form yet: it cannot be marked handled."""


# -- accounts (ehforms.accounts re-exports them) --------------------------------------------


class AccountExists(EhformsError):
    """An account with that email exists already."""


class UnknownAccount(EhformsError):
    """No account has that email."""


class UnknownMailbox(EhformsError):
    """A mailbox that the configuration does not name."""


class BadAccount(EhformsError):
    """An email that is not one, or a role or mailboxes that do not fit together."""


class WeakPassword(EhformsError):
    """A password too short or too common; the message says what to do."""


class SignInRefused(EhformsError):
    """One message for every cause: a wrong email or password, or a disabled account."""

    def __init__(self) -> None:
        super().__init__("Enter a correct email address and password")


class SessionEnded(EhformsError):
    """The session is over: ``reason`` "inactive" (no request for ``idle_minutes``) or
    "ended" (signed out, disabled, a new password, ``session_hours`` in all, unknown)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__("You have been signed out")


# -- keeping and deleting ---------------------------------------------------------------


class ExportRefused(EhformsError):
    """A case export cannot go where it was asked to (a link, a folder not empty, inside the
    working root): the message says what to do."""


class CaseRefused(EhformsError):
    """A prefill look-up refused: an unknown case, a case the person does not work on, a
    date of birth that matches no child on it, or a family that withdrew consent. One class
    and one message for all, so a refusal reveals nothing."""


class TooManyTries(EhformsError):
    """A person has made as many prefill look-ups as an hour allows."""
