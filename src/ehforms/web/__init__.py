"""The web face: ``ehforms serve`` (spec/web.md). Flask pages over the same ``core.Root``
calls as the command line; ``create_app`` makes the application, ``serve`` runs it under
waitress."""

from __future__ import annotations

from ehforms.web.app import create_app
from ehforms.web.server import serve

__all__ = ["create_app", "serve"]
