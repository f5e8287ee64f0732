"""Errors raised by the scanner.

A page that fails to load is not an error: it is reported in ``ScanReport.pages`` with its
``error`` and the scan goes on. These exceptions stop a scan (or refuse to start one)::

    ScanError
    ├── TargetError                the start URL cannot be scanned
    │   ├── InvalidTargetError     not an http(s) URL with a host
    │   ├── UnresolvableTargetError  the host does not resolve
    │   └── PrivateTargetError     it resolves to a private/loopback/link-local/... address
    ├── BrowserError               Chromium could not be found or started
    └── KnowledgeBaseLoadError     a ``--kb`` file could not be loaded

They carry no HTTP status: the server maps them in its own error table.
"""

from __future__ import annotations

__all__ = [
    "BrowserError",
    "InvalidTargetError",
    "KnowledgeBaseLoadError",
    "PrivateTargetError",
    "ScanError",
    "TargetError",
    "UnresolvableTargetError",
]


class ScanError(Exception):
    """Base class: the scan could not run."""


class TargetError(ScanError):
    """The start URL is not a target the scanner may visit."""


class InvalidTargetError(TargetError):
    pass


class UnresolvableTargetError(TargetError):
    pass


class PrivateTargetError(TargetError):
    """The host resolves to an address that is not on the public internet."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} resolves to non-public address {address}")
        self.host = host
        self.address = address


class BrowserError(ScanError):
    pass


class KnowledgeBaseLoadError(ScanError):
    pass
