"""The layers of docs/architecture.md, checked: a module imports only from its own layer or
those below it (contract → decisions → documents and storage → application → faces)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src" / "ehforms"

# Lowest first. A module may import modules of its own layer or of a lower one.
LAYERS: dict[str, list[str]] = {
    "base": ["errors", "files", "text", "names"],
    "contract": ["config", "forms", "schemas", "content", "registry", "profiles", "council"],
    "decisions": ["routing", "receipts", "documents", "retention"],
    "documents and storage": [
        "intake",
        "bundles",
        "pdfforms",
        "salvage",
        "submission",
        "render",
        "engine",
        "prefill",
        "mailroom",
        "mailboxes",
        "ledger",
        "database",
        "rows",
        "migrations",
        "workers",
        "outcomes",
        "jobs",
        "accounts",
        "audit",
        "alerts",
        "purging",
        "casefile",
        "report",
        "report_render",
        "locks",
        "practice",
    ],
    "application": [
        "pipeline",
        "claiming",
        "retries",
        "watch",
        "status",
        "setup",
        "core",
        "handling",
        "overrides",
        "alerting",
        "practitioners",
    ],
    "faces": ["cli", "cliparts", "commands", "running", "keeping", "present", "__main__", "web"],
}
RANK = {module: rank for rank, (_, modules) in enumerate(LAYERS.items()) for module in modules}
NAMES = list(LAYERS)


def top(module: str) -> str:
    """``ehforms.forms.fields`` → ``forms``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = "ehforms." + ".".join(path.relative_to(SRC).with_suffix("").parts)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.rsplit(".", node.level)[0]
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return [(line, name) for line, name in found if name.startswith("ehforms.")]


def modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC)


def test_every_module_has_a_layer():
    missing = {top("ehforms." + ".".join(p.relative_to(SRC).with_suffix("").parts)) for p in modules()}
    assert missing - set(RANK) == set()


def test_no_import_points_up_the_layers():
    upward = []
    for path in modules():
        me = top("ehforms." + ".".join(path.relative_to(SRC).with_suffix("").parts))
        for line, name in imports(path):
            other = top(name)
            if other and RANK[other] > RANK[me]:
                upward.append(
                    f"{path.relative_to(SRC)}:{line} ({NAMES[RANK[me]]}) imports {name} "
                    f"({NAMES[RANK[other]]})"
                )
    assert upward == []


def test_the_architecture_page_lists_the_same_layers():
    page = (SRC.parent.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for layer, names in LAYERS.items():
        assert f"| {layer} |" in page, layer
        for name in names:
            if (SRC / f"{name}.py").exists() or (SRC / name).is_dir():
                assert f"`{name}`" in page, name


def test_the_cli_imports_only_the_core_and_the_registry():
    """The command line (cli, what its command modules share, and those modules: running,
    commands, keeping) parses, calls the core and prints; ``serve`` hands over to the web."""
    faces = {"cli", "cliparts", "commands", "running", "keeping"}
    allowed = {"core", "registry", "errors", "present", "web"} | faces
    for module in sorted(f"{name}.py" for name in faces):
        used = {top(name) for _, name in imports(SRC / module)}
        assert used <= allowed, (module, used - allowed)


MOST_LINES = 400


def test_no_module_is_over_400_lines():
    """A module a newcomer can read at a sitting: past this, split it along its seams (see
    docs/architecture.md for the packages that were)."""
    long = {
        str(path.relative_to(SRC)): lines
        for path in SRC.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MOST_LINES
    }
    assert long == {}


@pytest.mark.parametrize("module", ["cli", "cliparts", "commands", "running", "keeping"])
def test_each_command_module_imports_first_on_its_own(module):
    """No import cycle among the command line's modules, whichever a caller imports first."""
    done = subprocess.run(
        [sys.executable, "-c", f"import ehforms.{module}"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
