"""The ledger's tables (SQLAlchemy Core): one ``metadata`` that the Alembic migrations in
``ehforms/migrations`` make and upgrade the database to (a test compares them).

What each table holds for: the pipeline's files, outcomes, deliveries, case data and events;
the web's accounts, sessions, failed sign-ins, the audit trail and who handled a copy; alerts
by email; the practitioners' pages; keeping and deleting.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

submissions = sa.Table(
    "submissions",
    metadata,
    sa.Column("submission_id", sa.Text, primary_key=True),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("received_at", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("status", sa.Text),
    sa.Column("form_type", sa.Text),
    sa.Column("case_id", sa.Text),
    sa.Column("mailboxes", sa.Text),
    sa.Column("folder", sa.Text),
    sa.Column("priority", sa.Text),
    sa.Column("duplicate_of", sa.Text),
    sa.Column("completed_at", sa.Text),
    sa.Column("claim_seq", sa.Integer),  # claim order: which of two copies came first
    sa.Column("failures", sa.Integer, nullable=False, server_default=sa.text("0")),
    # a bundle's form's own hash (sha256 is the bundle's identity); a lone file's is its sha256
    sa.Column("form_sha256", sa.Text),
    sa.Column("sent_by", sa.Text),  # the account that sent it through the web pages
    sa.CheckConstraint("state IN ('claimed', 'done')", name="submissions_state"),
)
sa.Index("submissions_sha256", submissions.c.sha256, submissions.c.received_at)
sa.Index("submissions_case", submissions.c.case_id, submissions.c.received_at)
sa.Index("submissions_claim_seq", submissions.c.claim_seq, unique=True)
sa.Index("submissions_form_sha256", submissions.c.form_sha256, submissions.c.claim_seq)

case_data = sa.Table(
    "case_data",
    metadata,
    sa.Column(
        "submission_id", sa.Text, sa.ForeignKey("submissions.submission_id"), primary_key=True
    ),
    sa.Column("case_id", sa.Text, nullable=False),
    sa.Column("form_type", sa.Text, nullable=False),
    sa.Column("received_at", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)
sa.Index("case_data_case", case_data.c.case_id, case_data.c.received_at)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column(
        "submission_id", sa.Text, sa.ForeignKey("submissions.submission_id"), primary_key=True
    ),
    sa.Column("place", sa.Text, primary_key=True),  # outbox/<mailbox>, or rejected
    sa.Column("folder", sa.Text, nullable=False),
    sa.Column("delivered_at", sa.Text, nullable=False),
    sa.Column("priority", sa.Text),
    sa.Column("due_at", sa.Text),  # the earliest due, in the primary mailbox only
)
sa.Index("deliveries_place", deliveries.c.place, deliveries.c.delivered_at)

events = sa.Table(
    "events",
    metadata,
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("submission_id", sa.Text),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("detail", sa.Text),
)


# -- the web service: accounts, their sessions, failed sign-ins, the audit trail -----------

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("email", sa.Text, primary_key=True),  # trimmed and lower-cased
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("mailboxes", sa.Text, nullable=False),  # a JSON list (hub accounts only)
    sa.Column("password_hash", sa.Text, nullable=False),  # Argon2id, PHC string
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("must_change_password", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("changed_at", sa.Text, nullable=False),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("token_sha256", sa.Text, primary_key=True),  # the token itself is never stored
    sa.Column("email", sa.Text, sa.ForeignKey("accounts.email"), nullable=False),
    sa.Column("started_at", sa.Text, nullable=False),
    sa.Column("last_seen", sa.Text, nullable=False),
    sa.Column("ended_at", sa.Text),
    sa.Column("ended_because", sa.Text),  # signed out, inactive, expired, disabled, password
)
sa.Index("sessions_email", sessions.c.email, sessions.c.ended_at)

sign_in_failures = sa.Table(
    "sign_in_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("email_hash", sa.Text, nullable=False),  # keyed hash of the email typed
    sa.Column("address", sa.Text, nullable=False),
)
sa.Index("sign_in_failures_email", sign_in_failures.c.email_hash, sign_in_failures.c.at)
sa.Index("sign_in_failures_address", sign_in_failures.c.address, sign_in_failures.c.at)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("who", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("submission_id", sa.Text),
    sa.Column("case_ref", sa.Text),
    sa.Column("detail", sa.Text),
)
sa.Index("audit_at", audit.c.at)
sa.Index("audit_case", audit.c.case_ref, audit.c.at)
sa.Index("audit_who", audit.c.who, audit.c.at)

handled = sa.Table(
    "handled",
    metadata,
    sa.Column("mailbox", sa.Text, primary_key=True),
    sa.Column("submission_id", sa.Text, primary_key=True),
    sa.Column("folder", sa.Text, nullable=False),
    sa.Column("handled_by", sa.Text, nullable=False),
    sa.Column("handled_at", sa.Text, nullable=False),
)


# -- alerts by email (ehforms.alerts): the queue, every attempt, the daily digests ----------

alerts = sa.Table(
    "alerts",
    metadata,
    # one alert per submission and mailbox, ever
    sa.Column("submission_id", sa.Text, primary_key=True),
    sa.Column("mailbox", sa.Text, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),  # the form type's title
    sa.Column("received_at", sa.Text, nullable=False),
    sa.Column("queued_at", sa.Text, nullable=False),
    sa.Column("tries", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("next_at", sa.Text),  # not tried again before this time (after a failure)
    sa.Column("message_id", sa.Text),  # set just before its email goes to the server
    sa.Column("sent_at", sa.Text),  # once the server accepted it
)
sa.Index("alerts_unsent", alerts.c.sent_at, alerts.c.mailbox)

digests = sa.Table(
    "digests",
    metadata,
    sa.Column("day", sa.Text, primary_key=True),  # the local date, YYYY-MM-DD
    sa.Column("mailbox", sa.Text, primary_key=True),
    sa.Column("made_at", sa.Text, nullable=False),
    sa.Column("items", sa.Text, nullable=False),  # JSON: what was overdue (no personal data)
    sa.Column("tries", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("next_at", sa.Text),
    sa.Column("message_id", sa.Text),
    sa.Column("sent_at", sa.Text),  # null while it waits; a digest of nothing is never sent
)

alert_attempts = sa.Table(
    "alert_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # alert or digest
    sa.Column("mailbox", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("items", sa.Integer, nullable=False),  # forms listed in the email
    sa.Column("result", sa.Text, nullable=False),  # sent, failed, refused
    sa.Column("reply", sa.Text, nullable=False),  # the server's reply, addresses taken out
)
sa.Index(
    "alert_attempts_mailbox", alert_attempts.c.mailbox, alert_attempts.c.kind, alert_attempts.c.at
)


# -- the practitioners' pages (ehforms.practice): what each person sent, and prefill allowed --

sent = sa.Table(
    "sent",
    metadata,
    # written by the web when a form is sent, before the watcher has seen it
    sa.Column("submission_id", sa.Text, primary_key=True),
    sa.Column("sent_by", sa.Text, nullable=False),  # the account (trimmed, lower-cased)
    sa.Column("sent_at", sa.Text, nullable=False),  # the time of receipt
    sa.Column("form_type", sa.Text),  # as the check on /send read it
    sa.Column("case_id", sa.Text),
)
sa.Index("sent_by_at", sent.c.sent_by, sent.c.sent_at)

prefill_allowed = sa.Table(
    "prefill_allowed",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.Text, nullable=False),  # who may now prefill the case
    sa.Column("case_id", sa.Text, nullable=False),
    sa.Column("allowed_by", sa.Text, nullable=False),  # the hub user who pressed the button
    sa.Column("allowed_at", sa.Text, nullable=False),
    sa.Column("submission_id", sa.Text, nullable=False),  # the form it was allowed from
    sa.Column("mailbox", sa.Text, nullable=False),
)
sa.Index("prefill_allowed_email", prefill_allowed.c.email, prefill_allowed.c.case_id)


# -- keeping and deleting (ehforms.purging): forms.md "Keeping and deleting" ----------------

# When a purge first saw a folder in a mailbox's done/ that no one marked handled through
# ehforms (moved by hand on the share): its handled time. Removed with the folder.
done_seen = sa.Table(
    "done_seen",
    metadata,
    sa.Column("place", sa.Text, primary_key=True),  # outbox/<mailbox>
    sa.Column("folder", sa.Text, primary_key=True),
    sa.Column("seen_at", sa.Text, nullable=False),
)

# A family withdrew consent (a consent_withdrawn closure): the case's prefill data is erased
# and stays erased until a form arrives with consent dated after ``withdrawn_on``. Content-free.
withdrawals = sa.Table(
    "withdrawals",
    metadata,
    sa.Column("case_id", sa.Text, primary_key=True),
    sa.Column("withdrawn_on", sa.Text, nullable=False),  # the closure's date, YYYY-MM-DD
)

# While a purge deletes audit rows older than ``before``, a row here lets it (the ledger's
# trigger refuses any other delete from the append-only trail); removed in the same transaction.
audit_purge = sa.Table(
    "audit_purge",
    metadata,
    sa.Column("before", sa.Text, primary_key=True),
)
