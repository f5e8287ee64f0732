"""Scanner test infrastructure: the local HTTPS server every fixture site runs on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scanner.fakeweb import FakeWeb
from tests.scanner.sites import install_all


@pytest.fixture(scope="session")
def web() -> Iterator[FakeWeb]:
    server = FakeWeb().start()
    install_all(server)
    yield server
    server.stop()
