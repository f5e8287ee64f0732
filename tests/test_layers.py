"""The dependency direction of DESIGN.md, as the interpreter sees it: importing the services
(or the error tree, or the admin) in a fresh interpreter loads no admin, no HTTP framework and
no browser where they have no business. import-linter (`make lint`) checks the imports as
written; this checks what a real import loads, lazy imports included."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import cmp_server.services

SERVICES = sorted(
    f"cmp_server.services.{m.name}" for m in pkgutil.iter_modules(cmp_server.services.__path__)
)

LOADED = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _top_level_packages_loaded_by(*modules: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", LOADED, *modules], check=True,
                         capture_output=True, text=True).stdout
    return set(json.loads(out))


def test_the_services_load_neither_the_admin_nor_a_browser_nor_starlette() -> None:
    assert len(SERVICES) > 20  # every service module, not an empty list
    loaded = _top_level_packages_loaded_by("cmp_server.services", *SERVICES)
    assert "cmp_server" in loaded and "scanner" in loaded  # they read scan reports
    assert not loaded & {"admin", "playwright", "starlette", "uvicorn"}


@pytest.mark.parametrize("module", ["cmp_server", "cmp_server.errors", "cmp_server.settings"])
def test_the_package_face_and_the_error_tree_are_light(module: str) -> None:
    loaded = _top_level_packages_loaded_by(module)
    assert not loaded & {"admin", "playwright", "starlette", "tortoise", "scanner"}


def test_the_admin_alone_imports_cleanly_and_loads_no_browser() -> None:
    # A fresh `import admin` once failed half-initialised through cmp_server/__init__ → app.
    loaded = _top_level_packages_loaded_by("admin")
    assert "admin" in loaded and "starlette" in loaded
    assert "playwright" not in loaded


def test_the_composition_root_does_load_the_admin() -> None:
    # The check above would pass on an empty import; the root is where the admin comes in.
    assert "admin" in _top_level_packages_loaded_by("cmp_server.app")


def test_the_scanner_loads_its_crawler_on_first_use() -> None:
    import scanner

    assert callable(scanner.scan_site)
    assert "scan_site" in scanner.__all__
    with pytest.raises(AttributeError):
        scanner.no_such_name  # noqa: B018
