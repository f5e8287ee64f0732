"""What a `pip install` user gets: the wheel holds every file of the packages, the built embed as
committed, and the packages read their own files from it (issue 3: "the Python package must ship
the built file")."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EMBED = ROOT / "cmp_server" / "static" / "cmp.js"
PACKAGES = ("cmp_server", "scanner", "admin", "cmp_verify")
NOT_SHIPPED = {"__pycache__", "node_modules"}

# Run in a fresh interpreter with the wheel first on sys.path: the editable install of the
# checkout is on it too, so the first line proves the wheel is what was read.
READ_FROM_WHEEL = """
import sys
wheel = sys.argv[1]
import cmp_server, scanner
assert cmp_server.__file__.startswith(wheel) and scanner.__file__.startswith(wheel)
from cmp_server.services.configs import embed_bundle
from cmp_server.demo import _templates
from scanner._consent import _banner_js, autoconsent_init_script, rules_for
from scanner._page import hooks_script
from scanner.kb import KnowledgeBase
sys.stdout.buffer.write(embed_bundle())
kb = KnowledgeBase.builtin()
assert kb.match_cookie("_ga", ".example.com").vendor.key == "google-analytics", kb
assert "autoconsent" in autoconsent_init_script() and rules_for("https://example.com/")
assert _banner_js() and hooks_script() and _templates.get_template("demo.html")
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
                   cwd=ROOT, check=True, capture_output=True)
    [built] = out.glob("*.whl")
    return built


def _package_files() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            relative = path.relative_to(ROOT)
            if path.is_file() and not NOT_SHIPPED & set(relative.parts) and path.suffix != ".pyc":
                found.add(relative.as_posix())
    return found


def test_the_wheel_holds_every_file_of_the_packages(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert "cmp_server/static/cmp.js" in names
        assert not _package_files() - names
        assert z.read("cmp_server/static/cmp.js") == EMBED.read_bytes()


def test_the_packages_read_their_files_from_the_wheel(wheel: Path, tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-c", READ_FROM_WHEEL, str(wheel)], cwd=tmp_path,
                         env={"PYTHONPATH": str(wheel)}, capture_output=True)
    assert run.returncode == 0, run.stderr.decode()
    assert run.stdout == EMBED.read_bytes()


# The offline verifier a regulator runs: from the wheel, it loads the standard library,
# cryptography (and what cryptography loads) and itself, nothing else of ours or anyone's.
VERIFIER_ALONE = """
import sys
wheel = sys.argv[1]
import cmp_verify.cli
assert cmp_verify.__file__.startswith(wheel)
cmp_verify.checkpoint.verify_signature(bytes(32), bytes(64), b"")
others = {m.split(".")[0] for m in sys.modules} - set(sys.stdlib_module_names)
# __mp_main__: the standard library's multiprocessing names the main module so (the
# verifier checks big bundles in one process per core).
allowed = {"__main__", "__mp_main__", "cmp_verify", "cryptography", "_cffi_backend",
           "_openssl", "_distutils_hack"}
assert not others - allowed, sorted(others - allowed)
sys.exit(cmp_verify.cli.main(["--help"]))
"""


def test_the_verifier_needs_only_the_standard_library_and_cryptography(
    wheel: Path, tmp_path: Path
) -> None:
    run = subprocess.run([sys.executable, "-c", VERIFIER_ALONE, str(wheel)], cwd=tmp_path,
                         env={"PYTHONPATH": str(wheel)}, capture_output=True)
    assert run.returncode == 0, run.stderr.decode()
    assert b"cmp-verify" in run.stdout
