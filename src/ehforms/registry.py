"""The form types: one place that names each form and everything that hangs on it.

Everything else reads this registry: the schemas (``forms``), the CLI's choices, the documents a
form may get, the samples, the JSON Schema export and the practitioner forms. Importing it is
cheap (no schema is built until :meth:`FormType.schema` is called), so the CLI's ``--help``
stays quick. ``tests/test_registry.py`` fails if a form type is missing from any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

# Document names (the templates' file stems).
CONSENT_LETTER = "consent-letter"
PRO_FORMA = "allocations-pro-forma"
CLOSURE_NOTE = "case-closure-note"


@dataclass(frozen=True)
class FormType:
    name: str  # the value of ``form_type`` in a form
    title: str  # what a person calls it
    schema_path: str  # "module:Class" of its marshmallow schema
    documents: tuple[str, ...]  # the documents it may get when routed
    sample: str  # the sample form the demo puts through a root
    formats: tuple[str, ...] = ("pdf", "docx", "json")  # practitioner forms

    def schema(self) -> Any:
        module, _, name = self.schema_path.partition(":")
        return getattr(import_module(module), name)


FORM_TYPES: dict[str, FormType] = {
    form.name: form
    for form in (
        FormType(
            "notification",
            "Early Help Notification",
            "ehforms.forms.notification:Notification",
            (CONSENT_LETTER,),
            "notification.json",
        ),
        FormType(
            "rfas",
            "Request for Additional Services",
            "ehforms.forms.rfas:Rfas",
            (),
            "rfas.json",
        ),
        FormType(
            "transfer",
            "Transfer to Early Help",
            "ehforms.forms.transfer:Transfer",
            (CONSENT_LETTER, PRO_FORMA),
            "transfer.json",
        ),
        FormType(
            "marf",
            "Multi-Agency Referral Form",
            "ehforms.forms.marf:Marf",
            (),
            "marf.json",
        ),
        FormType(
            "closure",
            "Case closure",
            "ehforms.forms.closure:Closure",
            (CLOSURE_NOTE,),
            "closure.json",
        ),
    )
}
NAMES: tuple[str, ...] = tuple(FORM_TYPES)
