"""Run ``cmp-server`` as a real process, as a user would."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cli_env(database_url: str, data_dir: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("CMP_")}
    env.update(
        {
            "CMP_DATABASE_URL": database_url,
            "CMP_DATA_DIR": str(data_dir),
            "CMP_ENVIRONMENT": "test",
            "CMP_SECRET_KEY": "test-secret-key-not-for-production",
        }
    )
    return env


def run_cli(
    args: Sequence[str], env: dict[str, str], timeout: float = 60, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cmp_server.cli", *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def serving(
    args: Sequence[str], env: dict[str, str], port: int, output: list[str] | None = None,
    start_timeout: float = 30,
) -> Iterator[str]:
    """The server's base URL while it runs; its output lands in ``output`` once it stopped."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cmp_server.cli", *args, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                if proc.poll() is None:
                    proc.kill()  # still starting: its output ends only when it does
                    proc.wait()
                out = proc.stdout.read() if proc.stdout else ""
                raise RuntimeError(f"server did not start:\n{out}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if output is not None and proc.stdout:
            output.append(proc.stdout.read())
