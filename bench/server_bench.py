"""Benchmark: our server against the bare-Starlette probe, side by side, on PostgreSQL.

    .venv/bin/python bench/server_bench.py            # full run (10 s per run, 5 rounds)
    .venv/bin/python bench/server_bench.py --quick    # 3 s smoke run

Both apps run at once, one uvicorn worker each, on the same bench database; wrk hits them in
turn (probe, ours, then ours, probe in the next round) so the machine's noise falls on both. What
matters is the ratio ours/probe, not the absolute figures (../shared/bench/README.md).

Scenarios: config GET (200), config GET revalidated with If-None-Match (304; the probe has no
revalidation, so its plain GET is the ceiling), consents POST (ours: a valid receipt with fresh
random ids each request; the probe: one raw INSERT per request). After each POST run the rows
are counted: every acknowledged (2xx) receipt must be in the table.

Exits non-zero only when the set-up fails (database, migrate, a server that does not start, an
unexpected status before the runs). A missed goal is printed, not an error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from statistics import median

import asyncpg  # type: ignore[import-untyped]
from _wrk import Load, WrkError, WrkResult, wrk

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "https://www.bench.example"
CHOICES = {"necessary": True, "preferences": False, "statistics": True, "marketing": False}

# A valid receipt, sent as the embed sends it (text/plain, no preflight), with a fresh receipt
# id and consent id on every request: a repeated id would measure the idempotent path instead.
OURS_POST_LUA = r"""
local random, fmt = math.random, string.format
counts = {}
local threads = {}

wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
wrk.headers["Origin"] = "__ORIGIN__"

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  -- each thread its own stream: seed from the kernel, not the clock
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(6)
  f:close()
  local seed = 0
  for i = 1, #bytes do seed = seed * 256 + bytes:byte(i) end
  math.randomseed(seed)
end

local function uuid4()
  return fmt("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
    random(0, 65535), random(0, 65535), random(0, 65535), random(0, 4095),
    random(32768, 49151), random(0, 65535), random(0, 65535), random(0, 65535))
end

local template = '{"receipt_id":"%s","consent_id":"%s","config_version":__VERSION__,'
  .. '"choices":__CHOICES__,"method":"custom","layer":"first","language":"en",'
  .. '"page_url":"__ORIGIN__/"}'

function request()
  return wrk.format(nil, nil, nil, fmt(template, uuid4(), uuid4()))
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      total[status] = (total[status] or 0) + n
    end
  end
  local parts, bad = {}, 0
  for status, n in pairs(total) do
    table.insert(parts, status .. "=" .. n)
    if status < 200 or status > 299 then bad = bad + n end
  end
  table.sort(parts)
  io.write("bench-statuses: " .. table.concat(parts, ",") .. "\n")
  io.write("bench-non2xx: " .. bad .. "\n")
end
"""


class SetupError(Exception):
    """The benchmark could not be set up; nothing was measured."""


@dataclass(frozen=True)
class Scenario:
    name: str
    goal: float  # ours/probe at least


@dataclass
class Runs:
    """One side of one scenario over the rounds; figures are medians over the rounds."""

    results: list[WrkResult] = field(default_factory=list)
    acknowledged: int = 0
    rows: int = 0

    @property
    def rps(self) -> float:
        return median(r.rps for r in self.results)

    @property
    def p50(self) -> float:
        return median(r.p50_ms for r in self.results)

    @property
    def p99(self) -> float:
        return median(r.p99_ms for r in self.results)

    @property
    def cpu_us(self) -> float:
        return median(r.cpu_us_per_request for r in self.results)

    @property
    def database_us(self) -> float:
        return median(r.database_us_per_request for r in self.results)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.results)


SCENARIOS = (
    # Issue 17's goals: a static byte string per version at the probe's ceiling, and the
    # group-commit writer well ahead of the probe's one INSERT per request.
    Scenario("config GET 200", 0.95),
    Scenario("config GET 304", 0.95),
    Scenario("consents POST", 1.5),
)


# ---------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def started(name: str, argv: list[str], env: dict[str, str], logdir: Path) -> Iterator[
    subprocess.Popen[bytes]
]:
    log = (logdir / f"{name}.log").open("wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        yield proc
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)  # the group we started (start_new_session), by its id
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_cpu_seconds() -> float:
    """CPU time so far of every PostgreSQL process on this machine (backends, WAL writer,
    checkpointer): what a request costs the database, which shares the cores with the rest."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().startswith("postgres"):
                total += cpu_seconds(int(proc.name))
        except OSError:  # gone meanwhile
            continue
    return total


def wait_ready(name: str, proc: subprocess.Popen[bytes], url: str, logdir: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    tail = (logdir / f"{name}.log").read_text(errors="replace")[-3000:]
    raise SetupError(f"{name} did not start ({url}):\n{tail}")


# ------------------------------------------------------------------------------------ database


def with_database(dsn: str, name: str) -> str:
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{name}"


async def ensure_database(admin_dsn: str, name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name == "test":
        raise SetupError(f"refusing database name {name!r}")
    con = await asyncpg.connect(admin_dsn)
    try:
        if not await con.fetchval("select 1 from pg_database where datname = $1", name):
            await con.execute(f'create database "{name}"')
    finally:
        await con.close()


async def sql(dsn: str, query: str) -> int:
    con = await asyncpg.connect(dsn)
    try:
        if query.lstrip().lower().startswith("select"):
            return int(await con.fetchval(query))
        await con.execute(query)
        return 0
    finally:
        await con.close()


def run_sql(dsn: str, query: str) -> int:
    return asyncio.run(sql(dsn, query))


# ----------------------------------------------------------------------------------------- http


def http(url: str, *, method: str = "GET", body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def expect(what: str, got: int, want: int, body: bytes = b"") -> None:
    if got != want:
        raise SetupError(f"{what}: expected {want}, got {got} {body[:300]!r}")


def receipt_body(version: int) -> bytes:
    return json.dumps({
        "receipt_id": str(uuid.uuid4()), "consent_id": str(uuid.uuid4()),
        "config_version": version, "choices": CHOICES, "method": "custom", "layer": "first",
        "language": "en", "page_url": f"{ORIGIN}/",
    }).encode()


# ---------------------------------------------------------------------------------------- table


def paired_ratio(probe: Runs, ours: Runs) -> float:
    """The median over rounds of ours/probe, each round's two runs taken back to back: a
    noisy minute then weighs on both sides of one ratio instead of on one side of the mean."""
    ratios = [o.rps / p.rps for p, o in zip(probe.results, ours.results, strict=True) if p.rps]
    return median(ratios) if ratios else 0.0


def table(results: dict[str, dict[str, Runs]]) -> str:
    head = ("scenario", "probe req/s", "ours req/s", "ratio", "goal", "result",
            "probe p50/p99 ms", "ours p50/p99 ms", "errors probe/ours",
            "server CPU us/req probe/ours", "PostgreSQL CPU us/req probe/ours")
    rows = [head]
    for scenario in SCENARIOS:
        probe, ours = results[scenario.name]["probe"], results[scenario.name]["ours"]
        ratio = paired_ratio(probe, ours)
        ok = ratio >= scenario.goal and ours.errors == 0 and ours.rows >= ours.acknowledged
        rows.append((
            # the ratio is rounded down: 0.797 must not read 0.80 beside a FAIL
            scenario.name, f"{probe.rps:,.0f}", f"{ours.rps:,.0f}",
            f"{math.floor(ratio * 100) / 100:.2f}x",
            f">= {scenario.goal:g}x", "pass" if ok else "FAIL",
            f"{probe.p50:.2f} / {probe.p99:.2f}", f"{ours.p50:.2f} / {ours.p99:.2f}",
            f"{probe.errors} / {ours.errors}", f"{probe.cpu_us:.0f} / {ours.cpu_us:.0f}",
            f"{probe.database_us:.0f} / {ours.database_us:.0f}",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
             for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--connections", type=int, default=64, help="wrk connections")
    p.add_argument("--timeout", default="5s", help="wrk request timeout")
    p.add_argument("--rounds", type=int, default=5,
                   help="runs per side and scenario; the order flips every round")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per side")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 s, one round, 1 s warm-up")
    p.add_argument("--admin-dsn", default="postgres://postgres@127.0.0.1:5432/postgres",
                   help="where to create the bench database")
    p.add_argument("--database", default="bench", help="the bench database (never 'test')")
    p.add_argument("--probe-dir", type=Path, default=ROOT.parent / "shared" / "bench",
                   help="where limit_app.py and limit_post.lua are")
    p.add_argument("--cmp-server", default=str(Path(sys.executable).parent / "cmp-server"))
    p.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    p.add_argument("--server-env", action="append", default=[], metavar="CMP_X=VALUE",
                   help="an extra setting for our server, for experiments (repeatable), "
                        "e.g. CMP_CONFIG_CACHE_SECONDS=3600")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="after the measured runs, run ours once more per scenario under "
                        "py-spy and write collapsed stacks to DIR (needs py-spy)")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.warmup = 3.0, 1, 1.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return bench(args)
    except (SetupError, WrkError, OSError, asyncpg.PostgresError) as exc:
        print(f"server_bench: set-up failed: {exc}", file=sys.stderr)
        return 2


def bench(args: argparse.Namespace) -> int:
    began = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    args.load_before = load_average()  # other work on the machine shows here
    dsn = with_database(args.admin_dsn, args.database)
    asyncio.run(ensure_database(args.admin_dsn, args.database))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMP_")}
    env |= {"CMP_DATABASE_URL": dsn, "CMP_ENVIRONMENT": "test",
            "CMP_SECRET_KEY": secrets.token_hex(32)}
    for item in args.server_env:
        name, sep, value = item.partition("=")
        if not sep or not name.startswith("CMP_"):
            raise SetupError(f"--server-env wants CMP_NAME=VALUE, not {item!r}")
        env[name] = value
    if not Path(args.cmp_server).exists():
        raise SetupError(f"no cmp-server at {args.cmp_server}")

    def cli(*words: str) -> str:
        done = subprocess.run([args.cmp_server, *words], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SetupError(f"cmp-server {' '.join(words)}:\n{done.stdout}{done.stderr}")
        return done.stdout

    cli("migrate")
    key = cli("create-site", "--name", "Bench", "--domain", "bench.example", "--force").split()[0]

    with tempfile.TemporaryDirectory(prefix="cmp-bench-") as tmp:
        logdir = Path(tmp)
        probe_port, ours_port = free_port(), free_port()
        probe_env = env | {"DSN": dsn}
        probe_argv = [sys.executable, "-m", "uvicorn", "limit_app:app",
                      "--app-dir", str(args.probe_dir), "--host", "127.0.0.1",
                      "--port", str(probe_port), "--workers", "1", "--no-access-log"]
        ours_argv = [args.cmp_server, "serve", "--host", "127.0.0.1", "--port", str(ours_port),
                     "--workers", "1"]
        with started("probe", probe_argv, probe_env, logdir) as probe, \
                started("ours", ours_argv, env, logdir) as ours:
            probe_base = f"http://127.0.0.1:{probe_port}"
            ours_base = f"http://127.0.0.1:{ours_port}"
            wait_ready("probe", probe, f"{probe_base}/config", logdir)
            wait_ready("ours", ours, f"{ours_base}/healthz", logdir)
            results = measure(args, key, dsn, probe_base, ours_base,
                              {"probe": probe.pid, "ours": ours.pid}, logdir)
            for proc, name in ((probe, "probe"), (ours, "ours")):
                if proc.poll() is not None:
                    raise SetupError(f"{name} died during the runs")
    report(args, results, began)
    return 0


def measure(args: argparse.Namespace, key: str, dsn: str, probe_base: str, ours_base: str,
            pids: dict[str, int], logdir: Path) -> dict[str, dict[str, Runs]]:
    config_url = f"{ours_base}/v1/sites/{key}/config"
    consents_url = f"{ours_base}/v1/sites/{key}/consents"

    # Before measuring: every endpoint answers as the scenario expects.
    status, headers, body = http(config_url)
    expect("ours config GET", status, 200, body)
    etag = headers.get("ETag")
    if not etag:
        raise SetupError("ours config GET: no ETag")
    version = int(json.loads(body)["version"])
    status, _, body = http(config_url, headers={"If-None-Match": etag})
    expect("ours config GET If-None-Match", status, 304, body)
    status, _, body = http(consents_url, method="POST", body=receipt_body(version),
                           headers={"Content-Type": "text/plain", "Origin": ORIGIN})
    expect("ours consents POST", status, 201, body)
    status, _, body = http(f"{probe_base}/config")
    expect("probe config GET", status, 200, body)
    probe_lua = args.probe_dir / "limit_post.lua"
    if not probe_lua.exists():
        raise SetupError(f"no {probe_lua}")
    status, _, body = http(f"{probe_base}/consent", method="POST",
                           body=json.dumps({"site": "demo", "choices": CHOICES}).encode(),
                           headers={"Content-Type": "application/json"})
    expect("probe consent POST", status, 201, body)

    ours_lua = logdir / "ours_post.lua"
    ours_lua.write_text(OURS_POST_LUA.replace("__ORIGIN__", ORIGIN)
                        .replace("__VERSION__", str(version))
                        .replace("__CHOICES__", json.dumps(CHOICES, separators=(",", ":"))))

    loads: dict[str, dict[str, Load]] = {
        "config GET 200": {"probe": Load(f"{probe_base}/config"), "ours": Load(config_url)},
        "config GET 304": {"probe": Load(f"{probe_base}/config"),
                           "ours": Load(config_url, headers=(f"If-None-Match: {etag}",))},
        "consents POST": {"probe": Load(f"{probe_base}/consent", probe_lua),
                          "ours": Load(consents_url, ours_lua)},
    }
    tables = {"probe": "receipts", "ours": "consent_receipt"}

    def truncate() -> None:
        for name in tables.values():
            run_sql(dsn, f"truncate {name}")

    print(f"warm-up: {args.warmup:g} s per side and scenario", flush=True)
    for scenario in SCENARIOS:
        for side in ("probe", "ours"):
            wrk(loads[scenario.name][side], args, args.warmup)
    truncate()

    results = {s.name: {"probe": Runs(), "ours": Runs()} for s in SCENARIOS}
    for rnd in range(args.rounds):
        order = ("probe", "ours") if rnd % 2 == 0 else ("ours", "probe")
        for scenario in SCENARIOS:
            for side in order:
                posting = scenario.name == "consents POST"
                if posting:
                    truncate()
                time.sleep(1.0)  # let the previous run's backlog drain
                pid = pids[side]
                before, database_before = cpu_seconds(pid), database_cpu_seconds()
                result = wrk(loads[scenario.name][side], args, args.duration)
                result = replace(result, server_cpu_s=cpu_seconds(pid) - before,
                                 database_cpu_s=database_cpu_seconds() - database_before)
                runs = results[scenario.name][side]
                runs.results.append(result)
                line = (f"round {rnd + 1} {scenario.name:15} {side:5} {result.rps:9,.0f} req/s  "
                        f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  "
                        f"errors {result.errors}  {result.bytes_per_response:,.0f} B/response  "
                        f"server CPU {result.cpu_us_per_request:.0f} us/req  "
                        f"PostgreSQL CPU {result.database_us_per_request:.0f} us/req")
                if posting:
                    time.sleep(1.0)  # requests in flight when wrk stopped may still commit
                    rows = run_sql(dsn, f"select count(*) from {tables[side]}")
                    acked = result.requests - result.errors
                    runs.acknowledged += acked
                    runs.rows += rows
                    line += f"  acknowledged {acked}  rows {rows}"
                    if rows < acked:
                        line += "  LOST WRITES"
                if result.statuses:
                    line += f"  statuses {result.statuses}"
                print(line, flush=True)

    if args.profile is not None:
        profile(args, loads, pids["ours"])
    return results


def profile(args: argparse.Namespace, loads: dict[str, dict[str, Load]], pid: int) -> None:
    """Ours once more per scenario under py-spy (not measured: sampling slows the server)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise SetupError("--profile needs py-spy (.venv/bin/pip install py-spy)")
    args.profile.mkdir(parents=True, exist_ok=True)
    for scenario in SCENARIOS:
        out = args.profile / (scenario.name.replace(" ", "_") + ".txt")
        spy = subprocess.Popen([py_spy, "record", "--pid", str(pid), "--format", "raw",
                                "--rate", "200", "--duration", f"{args.duration + 1:g}",
                                "--output", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)
        wrk(loads[scenario.name]["ours"], args, args.duration)
        _, err = spy.communicate(timeout=60)
        if spy.returncode != 0:
            raise SetupError(f"py-spy failed: {err.decode(errors='replace')}")
        print(f"profile: {out}", flush=True)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def report(args: argparse.Namespace, results: dict[str, dict[str, Runs]], began: str) -> None:
    print()
    print(f"started {began} UTC, load average then {args.load_before}, now {load_average()}")
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, wrk -t{args.threads} "
          f"-c{args.connections} -d{args.duration:g}s, {args.rounds} round(s) per side "
          f"(medians; ratio = median of the rounds' ours/probe), one uvicorn worker each, "
          f"PostgreSQL database {args.database!r}"
          + (f", ours with {' '.join(args.server_env)}" if args.server_env else ""))
    print(table(results))
    posts = results["consents POST"]
    for side in ("probe", "ours"):
        runs = posts[side]
        verdict = "all present" if runs.rows >= runs.acknowledged else "MISSING ROWS"
        print(f"consents {side}: {runs.acknowledged} acknowledged, {runs.rows} rows "
              f"({verdict}; rows may exceed acks by requests in flight when wrk stopped)")


if __name__ == "__main__":
    sys.exit(main())
