"""``cmp-server --api URL --token T COMMAND``: the commands that have a JSON admin API
equivalent (``/admin/api/v1``), run against a remote server with an API token instead of
against the database here. ``REMOTE`` names them; any other command refuses to run with
``--api`` (it would otherwise quietly act on a local database). Each prints what its local
form prints, from the API's answers; an API error is the command's error, its message the
server's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import httpx

__all__ = ["REMOTE", "Remote", "remote"]

# The commands --api runs remotely (the others need the server's own database or files).
REMOTE = frozenset({"request-scan", "scans", "cancel-scan", "publish", "export-receipts",
                    "inventory"})
TIMEOUT = 30.0  # seconds to connect, and between bytes


@dataclass(frozen=True)
class Remote:
    url: str  # the server's base URL, e.g. https://cmp.example.org
    token: str

    @property
    def base(self) -> str:
        return self.url.rstrip("/") + "/admin/api/v1"

    def _client(self) -> httpx.Client:
        import httpx  # here: the other commands do not pay for importing it

        return httpx.Client(base_url=self.base, timeout=TIMEOUT, headers={
            "Authorization": f"Bearer {self.token}", "Accept": "application/json"})

    @staticmethod
    def _raise(response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        try:
            found = response.json()["error"]
            message = found["message"] + (f" ({found['field']})" if found.get("field") else "")
        except (ValueError, KeyError, TypeError):
            message = response.text[:300] or response.reason_phrase
        raise click.ClickException(f"the server answered {response.status_code}: {message}")

    def call(self, method: str, path: str, *, json: Any = None,
             params: dict[str, Any] | None = None) -> Any:
        import httpx

        try:
            with self._client() as client:
                response = client.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach {self.url}: {exc}") from None
        self._raise(response)
        return response.json()

    def stream(self, path: str, json: Any) -> Iterator[bytes]:
        import httpx

        try:
            with self._client() as client, client.stream("POST", path, json=json) as response:
                if response.status_code >= 400:
                    response.read()
                    self._raise(response)
                yield from response.iter_bytes()
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach {self.url}: {exc}") from None


def remote() -> Remote | None:
    """The remote server the command line was given (``--api``), if any."""
    obj = click.get_current_context().find_root().obj
    return obj if isinstance(obj, Remote) else None


def request_scan(r: Remote, site_key: str, url: str | None, max_pages: int) -> None:
    body: dict[str, Any] = {"max_pages": max_pages}
    if url:
        body["start_url"] = url
    click.echo(r.call("POST", f"/sites/{site_key}/scans", json=body)["job_id"])


def list_scans(r: Remote, site_key: str, limit: int) -> None:
    runs = r.call("GET", f"/sites/{site_key}/scans")["runs"][:limit]
    lines = []
    for run in runs:
        p = run["progress"]
        lines.append(
            (f"job {run['job_id']}" if run["job_id"] else f"scan {run['scan_id']}")
            + f"  {run['status']:<8} {run['start_url'] or '-'}  "
            f"pass {p['pass_'] or '-'} {p['pages_done']}/{p['pages_total']} pages  "
            f"requested {run['requested_at'][:16].replace('T', ' ')}"
            + (f" by {run['requested_by']}" if run["requested_by"] else "")
            + (f"  violations {run['counts'].get('violations', 0)}, possible "
               f"{run['counts'].get('review', 0)}" if run["scan_id"] else "")
            + (f"  error: {run['error']}" if run["error"] else ""))
    click.echo("\n".join(lines) if lines else "no scans yet")


def cancel_scan(r: Remote, site_key: str, job_id: int | None) -> None:
    if job_id is None:
        active = [run for run in r.call("GET", f"/sites/{site_key}/scans")["runs"]
                  if run["status"] in ("queued", "running") and run["job_id"]]
        if not active:
            raise click.ClickException(f"{site_key} has no queued or running scan")
        job_id = min(active, key=lambda run: str(run["requested_at"]))["job_id"]
    job = r.call("POST", f"/sites/{site_key}/scans/jobs/{job_id}/cancel")
    if job["status"] == "cancelled":
        click.echo(f"scan job {job_id} cancelled before it started")
    else:
        click.echo(f"scan job {job_id} is stopping: its worker stops the browser within seconds")


def publish(r: Remote, site_key: str, yes: bool, dry_run: bool) -> None:
    summary = r.call("GET", f"/sites/{site_key}/draft")["summary"]
    if summary["unchanged"]:
        click.echo(f"the draft is version {summary['published']}: nothing to publish")
    else:
        click.echo(f"publishing creates version {summary['number']}"
                   + (" (visitors are asked again)" if summary["material"] else ""))
    for finding in summary["findings"]:
        where = f" [{finding['language']}]" if finding.get("language") else ""
        click.echo(f"{finding['level']}{where}: {finding['message']}")
    if summary["errors"]:
        raise click.ClickException("not published: fix the errors above first")
    if dry_run or summary["unchanged"]:
        return
    if not yes:
        click.confirm(f"Publish version {summary['number']}?", abort=True)
    done = r.call("POST", f"/sites/{site_key}/publish",
                  json={"fingerprint": summary["fingerprint"]})
    click.echo(f"published version {done['number']}")


def inventory_rows(r: Remote, site_key: str, unreviewed: bool,
                   flag: str | None) -> Iterator[SimpleNamespace]:
    """The items, a page of 200 at a time, in the local command's order (by name)."""
    params: dict[str, Any] = {"per_page": 200, "sort": "name"}
    if unreviewed:
        params["status"] = "unreviewed"
    if flag:
        params["flag"] = flag
    page = 1
    while True:
        found = r.call("GET", f"/sites/{site_key}/inventory", params={**params, "page": page})
        yield from (SimpleNamespace(**row) for row in found["items"])
        if page >= found["pages"]:
            return
        page += 1


def _day(moment: datetime | None, option: str, *, end: bool = False) -> str | None:
    """The API filters by whole days (``to`` inclusive); the local command by moments."""
    if moment is None:
        return None
    if moment.time() != time(0):
        raise click.BadParameter("with --api, give whole days (YYYY-MM-DD)", param_hint=option)
    return (moment.date() - timedelta(days=1) if end else moment.date()).isoformat()


def export_receipts(r: Remote, site_key: str, fmt: str, start: datetime | None,
                    end: datetime | None, out: Any) -> None:
    body = {"format": fmt, "from": _day(start, "--from"), "to": _day(end, "--to", end=True)}
    for chunk in r.stream(f"/sites/{site_key}/exports",
                          {k: v for k, v in body.items() if v is not None}):
        out.write(chunk)
    out.flush()


@click.command("create-token")
@click.option("--owner", "email", required=True,
              help="The email of the owner (of every site) the token acts for.")
@click.option("--name", required=True, help="What uses it (the audit log names it token:NAME).")
@click.option("--scope", type=click.Choice(["read", "write"]), default="read",
              show_default=True)
@click.option("--site", "site_keys", multiple=True,
              help="A site the token reaches (repeat it); none given: every site.")
@click.option("--days", type=click.IntRange(1, 365), default=90, show_default=True,
              help="Days until it expires.")
def create_token(email: str, name: str, scope: str, site_keys: tuple[str, ...],
                 days: int) -> None:
    """Make an API token on this server (as the admin's API tokens page does) and print it:
    it is shown once."""
    from . import cli
    from ._utils import utcnow
    from .errors import CmpError
    from .services import api_tokens, sites, staff, staff_sites

    async def work() -> str:
        row = await staff.account_by_email(email)
        actor = staff.Actor(id=row.id, email=row.email, name=row.name, role=row.role,
                            session_id="", csrf_token="",
                            sites=await staff_sites.grants(row.id))
        ids = [(await sites.get_site(key)).id for key in site_keys] or None
        until = utcnow() + timedelta(days=days)
        return (await api_tokens.create_token(name, scope, ids, until, by=actor)).secret

    try:
        click.echo(cli._with_db(cli._settings(), work))
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None
