"""The form's own hash beside the submission's: for a bundle, ``sha256`` is the bundle's identity
(its form's and attachments' hashes) and ``form_sha256`` its form's, so the same form sent again
with other attachments is known ("Same form as submission <id>").

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("submissions", sa.Column("form_sha256", sa.Text, nullable=True))
    # until now every submission was one file: its form's hash is its own
    op.get_bind().execute(sa.text("UPDATE submissions SET form_sha256 = sha256"))
    op.create_index(
        "submissions_form_sha256", "submissions", ["form_sha256", "claim_seq"], unique=False
    )


def downgrade() -> None:
    op.drop_index("submissions_form_sha256", "submissions")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("form_sha256")
