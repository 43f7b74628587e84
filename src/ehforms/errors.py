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


class LedgerFull(LedgerError):
    """The disk holding the ledger is full: try again once there is room."""
