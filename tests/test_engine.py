"""WeasyPrint is loaded without its library search starting compilers (ehforms.engine).

Each check runs in a new interpreter: WeasyPrint is imported once per process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the search is Linux's")

WATCH_PROCESSES = """
import ctypes.util, json, subprocess
started = []
real_init = subprocess.Popen.__init__
def init(self, args, *a, **k):
    started.append(str(args)[:80])
    real_init(self, args, *a, **k)
subprocess.Popen.__init__ = init
original = ctypes.util.find_library
"""

REPORT = """
import sys
import weasyprint
import weasyprint.text.ffi as ffi
pdf = weasyprint.HTML(string="<p>Synthetic letter</p>").write_pdf()
print(json.dumps({
    "started": started,
    "restored": ctypes.util.find_library is original and sys.stdout is sys.__stdout__,
    "pango": ffi.pango is not None,
    "subset": ffi.harfbuzz_subset is not None,
    "whole": weasyprint.text.fonts.FontConfiguration.__name__,  # the package's attributes too
    "pdf": pdf[:5].decode(),
}))
"""

WHOLE = {"pango": True, "subset": True, "whole": "FontConfiguration", "pdf": "%PDF-"}


def run(code: str) -> tuple[dict, str]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    *printed, last = done.stdout.strip().splitlines() or [""]
    return json.loads(last), "\n".join(printed)


def test_loading_weasyprint_starts_no_process_and_puts_find_library_back():
    found, printed = run(
        WATCH_PROCESSES
        + "from ehforms.engine import load_weasyprint\nload_weasyprint()\nload_weasyprint()\n"
        + REPORT
    )
    assert found == {"started": [], "restored": True, **WHOLE}
    assert printed == ""


def test_weasyprint_as_imported_plainly_starts_compilers_here():
    """What the engine saves: the ordinary import searches with ldconfig (and gcc and ld)."""
    found, _ = run(WATCH_PROCESSES + "import weasyprint\n" + REPORT)
    assert {key: found[key] for key in WHOLE} == WHOLE
    assert any("ldconfig" in command for command in found["started"])


def test_libraries_known_by_other_file_names_load_the_ordinary_way_and_print_nothing():
    """A system whose libraries are not called libpango-1.0.so.0 and so on: the first try
    fails (WeasyPrint prints its installation help), the ordinary import finds them."""
    found, printed = run(
        WATCH_PROCESSES
        + """
import cffi
real_dlopen = cffi.FFI.dlopen
def dlopen(self, name, *a, **k):
    if isinstance(name, str) and ".so." in name:
        raise OSError(f"no file called {name} on this system")
    return real_dlopen(self, name, *a, **k)
cffi.FFI.dlopen = dlopen
from ehforms.engine import load_weasyprint
load_weasyprint()
"""
        + REPORT
    )
    assert found["restored"] is True and {key: found[key] for key in WHOLE} == WHOLE
    assert any("ldconfig" in command for command in found["started"])  # the ordinary way
    assert printed == ""  # WeasyPrint's help from the first try is not printed


def test_a_subsetter_known_by_another_file_name_is_found_the_ordinary_way():
    """HarfBuzz's subsetter is optional to WeasyPrint (it loads without): were it missed by
    its file name, the ordinary search is tried rather than doing without it."""
    found, printed = run(
        WATCH_PROCESSES
        + """
import cffi
real_dlopen = cffi.FFI.dlopen
def dlopen(self, name, *a, **k):
    if name == "libharfbuzz-subset.so.0":
        raise OSError("no file by that name on this system")
    return real_dlopen(self, name, *a, **k)
cffi.FFI.dlopen = dlopen
from ehforms.engine import load_weasyprint
load_weasyprint()
"""
        + REPORT
    )
    assert found["restored"] is True and {key: found[key] for key in WHOLE} == WHOLE
    assert printed == ""


def test_other_threads_keep_the_library_search_and_their_output_while_it_loads():
    """A web server's other threads: while one loads WeasyPrint, the others' find_library
    still searches and what they print is printed."""
    found, printed = run(
        WATCH_PROCESSES
        + """
import threading
from ehforms.engine import load_weasyprint
loading = threading.Thread(target=load_weasyprint)
answers = []
loading.start()
while loading.is_alive():
    answers.append(ctypes.util.find_library("c"))
    print("request served")
loading.join()
assert answers and all(answers), answers
"""
        + REPORT
    )
    assert {key: found[key] for key in WHOLE} == WHOLE
    assert printed and set(printed.splitlines()) == {"request served"}
