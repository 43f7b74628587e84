"""WeasyPrint, loaded once per process without its library search starting compilers.

WeasyPrint opens Pango, HarfBuzz and fontconfig through cffi, trying several names for each
library: Windows', macOS's and Linux's. cffi hands every name it cannot open straight to
``ctypes.util.find_library``, which on Linux runs ``ldconfig -p`` and then ``gcc`` and ``ld``
for each miss (Kozea/WeasyPrint#1125). On a machine with a compiler that is some 200 processes
and a fifth of a second for every process that imports WeasyPrint: every worker of every batch.

Each list ends with the library's exact file name (``libpango-1.0.so.0``), which the dynamic
linker finds itself, through its cache and ``LD_LIBRARY_PATH``. So while WeasyPrint is
imported here, ``find_library`` finds nothing *for this thread* and cffi goes on to that name;
any other thread still gets the real search. Where WeasyPrint cannot be imported so (a system
whose libraries have other names), or comes without HarfBuzz's subsetter that the ordinary
search might find, everything the first try imported is forgotten and WeasyPrint is imported
again the ordinary way; the installation help the first try printed is dropped (this thread's
writes only).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

_LOADING = threading.Lock()
_loaded = False


class _Quiet:
    """Standard output that drops what one thread writes and passes the rest on."""

    def __init__(self, stream: Any, thread: int) -> None:
        self._stream, self._thread = stream, thread

    def write(self, text: str) -> Any:
        if threading.get_ident() == self._thread:
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _by_file_names() -> Iterator[None]:
    """``find_library`` finds nothing for this thread, and its printing is dropped."""
    import ctypes.util

    thread = threading.get_ident()
    original, stdout = ctypes.util.find_library, sys.stdout

    def find_library(name: str) -> str | None:
        return None if threading.get_ident() == thread else original(name)

    ctypes.util.find_library = find_library
    sys.stdout = _Quiet(stdout, thread)
    try:
        yield
    finally:
        ctypes.util.find_library = original
        if isinstance(sys.stdout, _Quiet):
            sys.stdout = stdout


def _forget_weasyprint(before: set[str]) -> None:
    """Drop what a failed first try left imported, so that the second builds it whole."""
    for name in set(sys.modules) - before:
        if name == "weasyprint" or name.startswith("weasyprint."):
            del sys.modules[name]


def load_weasyprint() -> None:
    """Import WeasyPrint (once): by the libraries' own file names first, then as it would."""
    global _loaded
    if _loaded:
        return
    with _LOADING:
        if _loaded:
            return
        if sys.platform == "linux" and "weasyprint" not in sys.modules:
            before = set(sys.modules)
            try:
                with _by_file_names():
                    from weasyprint.text import ffi
                if ffi.harfbuzz_subset is not None:
                    _loaded = True
                    return
            except OSError:  # a library by another name: the ordinary way below finds it
                pass
            _forget_weasyprint(before)
        import weasyprint  # noqa: F401

        _loaded = True
