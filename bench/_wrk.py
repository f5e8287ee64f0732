"""wrk for the server bench: one run of it, and what its output says.

A Lua script may add its own lines (``bench-non2xx: N``, ``bench-statuses: …``) in ``done()``;
they are counted as errors and statuses.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Load", "WrkError", "WrkResult", "parse_wrk", "wrk"]


class WrkError(RuntimeError):
    """wrk failed, or printed what we cannot read."""


@dataclass(frozen=True)
class WrkResult:
    rps: float
    requests: int
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx (or non-2xx/3xx for GETs) plus socket errors
    bytes_read: float = 0.0  # headers and bodies, as wrk counts them
    statuses: str = ""
    server_cpu_s: float = 0.0  # the server process's CPU time during the run
    database_cpu_s: float = 0.0  # every PostgreSQL process's, during the run

    @property
    def bytes_per_response(self) -> float:
        return self.bytes_read / self.requests if self.requests else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu_s / self.requests * 1e6 if self.requests else 0.0

    @property
    def database_us_per_request(self) -> float:
        return self.database_cpu_s / self.requests * 1e6 if self.requests else 0.0



_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_SIZES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in [^,]+, ([\d.]+)([KMG]?B) read", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if not (rps and total and p50 and p99):
        raise WrkError(f"could not read wrk's output:\n{out}")
    errors = 0
    non2xx = re.search(r"bench-non2xx: (\d+)", out) or re.search(
        r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(g) for g in sock.groups())
    statuses = re.search(r"bench-statuses: (\S*)", out)
    return WrkResult(float(rps.group(1)), int(total.group(1)), _ms(p50.group(1)),
                     _ms(p99.group(1)), errors,
                     float(total.group(2)) * _SIZES[total.group(3)],
                     statuses.group(1) if statuses else "")


@dataclass(frozen=True)
class Load:
    """One side of one scenario: what wrk is pointed at."""

    url: str
    script: Path | None = None
    headers: tuple[str, ...] = ()


def wrk(load: Load, args: argparse.Namespace, seconds: float) -> WrkResult:
    argv = [args.wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds:g}s",
            f"--timeout={args.timeout}", "--latency"]
    for header in load.headers:
        argv += ["-H", header]
    if load.script is not None:
        argv += ["-s", str(load.script)]
    argv.append(load.url)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise WrkError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout)
