"""A PostgreSQL restart under receipt load, on a cluster of the test's own (initdb and pg_ctl
in a temporary folder, on a free port: the shared server is never touched). Receipts are
answered 503 while it is down, never a 500; the writer reconnects by itself; every receipt
acknowledged is stored, and receipts are acknowledged again soon after the restart.

Skipped, saying why, where initdb and pg_ctl are missing (CI's machine has them)."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .._server import free_port, run_cli
from ._harness import (
    Load,
    Server,
    assert_every_acked_receipt_stored,
    create_site,
    fault_env,
)


class Cluster:
    def __init__(self, root: Path) -> None:
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        # initdb refuses to run as root: then as the postgres user, as a package install does.
        self.user: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root, and no postgres user to run initdb as")
            self.user = ["runuser", "-u", "postgres", "--"]
            for path in (root, self.sockets):
                path.mkdir(exist_ok=True)
                os.chown(path, owner.pw_uid, owner.pw_gid)
            root.chmod(0o755)
        else:
            self.sockets.mkdir(exist_ok=True)

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self.user, *args], capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == 0, done.stdout + done.stderr

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8")

    def pg_ctl(self, action: str) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1"
                   f" -c unix_socket_directories={self.sockets} -c fsync=off")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-m", "fast", "-w", "-t", "60", action)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        pytest.skip("initdb and pg_ctl are needed for a PostgreSQL cluster of the test's own")
    # Not under pytest's own temporary folder: that is private to this user, and the cluster
    # may run as the postgres user.
    root = Path(tempfile.mkdtemp(prefix="cmp-faults-pg-"))
    try:
        own = Cluster(root)
        own.init()
        own.pg_ctl("start")
        try:
            yield own
        finally:
            subprocess.run([*own.user, "pg_ctl", "-D", str(own.data), "-m", "immediate", "-w",
                            "stop"], capture_output=True, check=False, timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def test_receipts_survive_a_postgresql_restart_under_load(
    cluster: Cluster, tmp_path: Path
) -> None:
    env = fault_env(cluster.url, tmp_path)
    migrated = run_cli(["migrate"], env, timeout=180)
    assert migrated.returncode == 0, migrated.stderr
    key = create_site(env)
    server = Server(env)
    server.start()
    try:
        await server.serving()
        load = Load(server.base, key, visitors=20, each=15)
        running = asyncio.create_task(load.run())
        await load.until_acked(100)
        await asyncio.to_thread(cluster.pg_ctl, "restart")  # returns once it takes connections
        back = time.monotonic()
        async with asyncio.timeout(120):
            await running
        again = load.first_201_after(back)
        print(f"PostgreSQL restart: statuses {dict(load.statuses)};"
              f" first 201 {again:.2f} s after pg_ctl returned")
        assert again is not None and again < 30
        assert len(load.acked) == 20 * 15
        # The restart reached the server: its writer lost its connection and took a new one.
        assert "new connection" in server.output(), server.output()[-2000:]
        await assert_every_acked_receipt_stored(server.base, load)
    finally:
        server.stop()
