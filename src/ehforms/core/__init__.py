"""The application core: one API over a working root, for every face (the CLI, the web pages).

A face parses what it is given, calls a :class:`Root` method, and presents what comes back; it
holds no logic of its own. Every method here works on typed values (a :class:`Validation`, a
:class:`~ehforms.receipts.Receipt`, a :class:`Waiting`), raises only :class:`EhformsError`
subclasses for what a person can act on, and never changes the root when it only reads.

``Root`` is composed of areas, each a module here: ``base`` (the root, its ledger, accounts,
audit trail and lock), ``root`` (checking, rendering, process, watch, status), ``mailboxes``
(listings, a copy's page and files, handling), ``practitioners`` (their forms, sending) and
``records`` (the report, the purge, a case file); ``values`` holds what they hand back.
"""

from __future__ import annotations

from ehforms.core.base import RootBusy
from ehforms.core.practitioners import PRACTITIONER_INTRO
from ehforms.core.root import Root, export_schemas, init, profiles, worker_count
from ehforms.core.values import Batch, BundleCheck, Rendering, Waiting, now
from ehforms.errors import EhformsError, NotFound, RootError
from ehforms.forms import Validation

__all__ = [
    "PRACTITIONER_INTRO",
    "Batch",
    "BundleCheck",
    "EhformsError",
    "NotFound",
    "Rendering",
    "Root",
    "RootBusy",
    "RootError",
    "Validation",
    "Waiting",
    "export_schemas",
    "init",
    "now",
    "profiles",
    "worker_count",
]
