"""ehforms: Early Help paperwork for children's services.

Validate the five Early Help forms, route them to hub mailboxes, render the
documents that go with them, and offer practitioners prefilled forms.
"""

__version__ = "0.1.0"
