"""WeasyPrint, loaded once per process without its library search starting compilers.

WeasyPrint opens Pango, HarfBuzz and fontconfig through cffi, trying several names for each
library: Windows', macOS's and Linux's. cffi hands every name it cannot open straight to
``ctypes.util.find_library``, which on Linux runs ``ldconfig -p`` and then ``gcc`` and ``ld``
for each miss (Kozea/WeasyPrint#1125). On a machine with a compiler that is some 200 processes
and a fifth of a second for every process that imports WeasyPrint: every worker of every batch.

Each list ends with the library's exact file name (``libpango-1.0.so.0``), which the dynamic
linker finds itself, through its cache and ``LD_LIBRARY_PATH``. So while WeasyPrint is
imported here, ``find_library`` finds nothing and cffi goes on to that name. Where WeasyPrint
cannot be imported so (a system whose libraries have other names), it is imported again the
ordinary way, and what the first try printed is dropped.
"""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from collections.abc import Iterator

_LOADING = threading.Lock()


@contextlib.contextmanager
def _no_library_search() -> Iterator[None]:
    import ctypes.util

    original = ctypes.util.find_library
    ctypes.util.find_library = lambda name: None
    try:
        yield
    finally:
        ctypes.util.find_library = original


def load_weasyprint() -> None:
    """Import WeasyPrint (once): by the libraries' own file names first, then as it would."""
    if "weasyprint.text.ffi" in sys.modules:
        return
    with _LOADING:
        if "weasyprint.text.ffi" in sys.modules:
            return
        if sys.platform == "linux":
            try:
                with _no_library_search(), contextlib.redirect_stdout(io.StringIO()):
                    import weasyprint  # noqa: F401
                return
            except OSError:  # a library by another name: the ordinary way below finds it
                pass
        import weasyprint  # noqa: F401, F811
