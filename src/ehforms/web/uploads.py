"""Files sent to ``/send``, streamed to disk as they arrive: never held whole in memory, never
in the system's temporary folder, each file under the root's private
``.ehforms/incoming/<submission id>/`` (folder 0700, files 0600) under a name of ehforms' own
(the browser's name for a file is only ever data).

Werkzeug's own multipart parser does the parsing; this only gives it where to write
(``stream_factory``) and the limits it enforces while it reads: the whole request, the number
of parts, and (here) each file's size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge


class FileTooLarge(RequestEntityTooLarge):
    """One uploaded file grew past the largest a file may be."""


class CappedFile:
    """A file being written that refuses to grow past ``limit`` bytes."""

    def __init__(self, handle: IO[bytes], limit: int, path: Path) -> None:
        self.handle = handle
        self.path = path
        self.limit = limit
        self.written = 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        if self.written > self.limit:
            raise FileTooLarge()
        return self.handle.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)


class UploadRequest(Request):
    """A request whose uploaded files go where ``upload_to`` says, each at most
    ``file_limit`` bytes. Without ``upload_to`` (every page but ``/send``, whose requests
    ``MAX_CONTENT_LENGTH`` keeps small) files are refused outright."""

    upload_to: Path | None = None
    file_limit: int = 0
    _parts: int = 0

    @property
    def opened(self) -> list[IO[bytes]]:
        if "_opened" not in self.__dict__:
            self.__dict__["_opened"] = []
        return self.__dict__["_opened"]

    def close_uploads(self) -> None:
        """Every file streamed so far closed (the parse may have stopped half-way)."""
        for handle in self.opened:
            handle.close()

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if self.upload_to is None:
            raise RequestEntityTooLarge()
        self._parts += 1
        path = self.upload_to / f"part-{self._parts}"
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        handle = os.fdopen(descriptor, "w+b")
        self.opened.append(handle)
        return CappedFile(handle, self.file_limit, path)  # type: ignore[return-value]
