"""``scan``: JSON to --out, the summary table for people."""

import json

import pytest
from click.testing import CliRunner

from scanner.cli import cli, scan
from tests.scanner.fakeweb import FakeWeb

pytestmark = pytest.mark.browser


def _args(web: FakeWeb, *extra: str) -> list[str]:
    return [
        web.url("www.news.test"), "--max-pages", "1", "--passes", "none", "--settle", "0",
        "--ignore-https-errors", "--no-sitemap", "--browser-arg", web.browser_args[0], *extra,
    ]


def test_json_to_stdout_and_table_to_stderr(web: FakeWeb) -> None:
    result = CliRunner().invoke(scan, _args(web, "--out", "-", "--fail-on-violations"))
    assert result.exit_code == 3, result.output  # violations found, as asked
    report = json.loads(result.stdout)
    assert report["start_url"] == web.url("www.news.test")
    assert {v["name"] for v in report["violations"]} >= {"_ga", "YSC"}
    assert "Violations" in result.stderr and "Google" in result.stderr


def test_report_file_and_summary(web: FakeWeb, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report.json"
    result = CliRunner().invoke(scan, _args(web, "--out", str(out)))
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["pages"][0]["pass"] == "none"
    assert "Cookies and storage by category and vendor" in result.stdout


def test_bad_passes_are_refused() -> None:
    result = CliRunner().invoke(cli, ["scan", "https://x.test/", "--passes", "none,maybe"])
    assert result.exit_code == 2 and "maybe" in result.output


def test_summary_shows_violations_and_possible_violations_apart(web: FakeWeb) -> None:
    args = [web.url("www.butik.se"), "--max-pages", "2", "--passes", "none", "--settle", "0",
            "--ignore-https-errors", "--no-sitemap", "--browser-arg", web.browser_args[0]]
    result = CliRunner().invoke(scan, args)
    assert result.exit_code == 0, result.output
    out = result.stdout
    violations = out.index("Violations (")
    review = out.index("Possible violations: unclassified, classify them (")
    assert violations < out.index("_ga ", violations) < review  # _ga is a violation
    assert out.index("butik_sess", review) > review  # the site's session cookie: for review
    assert "butik_sess" not in out[violations:review]
    assert "cookie writes refused by the browser" in out and "_ga (.se)" in out


def test_more_pages_than_the_budget_holds_are_refused() -> None:
    result = CliRunner().invoke(cli, ["scan", "https://x.test/", "--max-pages", "2",
                                      "--page", "https://x.test/a", "--page", "https://x.test/b"])
    assert result.exit_code == 2 and "--max-pages 3" in result.output
