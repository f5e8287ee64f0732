"""Domain errors. They know nothing of HTTP; ``cmp_server/_http.py`` maps them to responses.

An error about one input names it in ``field``: the parameter of the service function, or a
dotted path into one (``texts.title``), so a form can put the message beside that field
(``admin/_forms.py``). An error about the request as a whole has ``field = None``.

CmpError                       (error)            -- .detail: the message; .field: the input
├── NotFound                   (not_found)
│   ├── SiteNotFound           (site_not_found)
│   ├── ConsentNotFound        (consent_not_found)
│   └── VersionNotFound        (version_not_found)
├── InvalidRequest             (invalid_request)
│   ├── MalformedBody          (malformed_body)
│   ├── UnsupportedMediaType   (unsupported_media_type)
│   ├── BodyTooLarge           (body_too_large)
│   ├── BodyTimeout            (body_timeout)
│   └── InvalidConsent         (invalid_consent)
│       └── ReceiptRefused     (receipt_refused)  -- the database refused this one receipt
├── OriginNotAllowed           (origin_not_allowed)
├── Conflict                   (conflict)
│   ├── ReceiptConflict        (receipt_conflict)
│   ├── StaleEdit              (stale_edit)       -- saved over a newer version than was read
│   └── SiteConflict           (site_conflict)
│       └── DomainClaimed      (domain_claimed)
├── NothingPublished           (nothing_published)
└── Unavailable                (unavailable)       -- retryable
    ├── WriteFailed            (write_failed)
    └── ChainContention        (chain_contention)  -- other writers kept moving the chains
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = [
    "BodyTimeout",
    "BodyTooLarge",
    "ChainContention",
    "CmpError",
    "Conflict",
    "ConsentNotFound",
    "DomainClaimed",
    "InvalidConsent",
    "InvalidRequest",
    "MalformedBody",
    "NotFound",
    "NothingPublished",
    "OriginNotAllowed",
    "ReceiptConflict",
    "ReceiptRefused",
    "SiteConflict",
    "SiteNotFound",
    "StaleEdit",
    "Unavailable",
    "UnsupportedMediaType",
    "VersionNotFound",
    "WriteFailed",
    "as_value_error",
]

P = ParamSpec("P")
T = TypeVar("T")


class CmpError(Exception):
    code = "error"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(CmpError):
    code = "not_found"


class SiteNotFound(NotFound):
    code = "site_not_found"


class ConsentNotFound(NotFound):
    code = "consent_not_found"


class VersionNotFound(NotFound):
    code = "version_not_found"


class InvalidRequest(CmpError):
    code = "invalid_request"


class MalformedBody(InvalidRequest):
    code = "malformed_body"


class UnsupportedMediaType(InvalidRequest):
    code = "unsupported_media_type"


class BodyTooLarge(InvalidRequest):
    code = "body_too_large"


class BodyTimeout(InvalidRequest):
    code = "body_timeout"


class InvalidConsent(InvalidRequest):
    code = "invalid_consent"


class ReceiptRefused(InvalidConsent):
    """The database refused a value of this receipt (its neighbours in the batch were stored):
    sending it again cannot help."""

    code = "receipt_refused"


class OriginNotAllowed(CmpError):
    code = "origin_not_allowed"


class Conflict(CmpError):
    code = "conflict"


class ReceiptConflict(Conflict):
    code = "receipt_conflict"


class StaleEdit(Conflict):
    """The thing was changed after the form was read (``services/revisions.py``): saving
    would undo that change unseen. ``keys``: the revisions that moved on."""

    code = "stale_edit"

    def __init__(self, detail: str, *, keys: tuple[str, ...] = (), field: str | None = None):
        super().__init__(detail, field=field)
        self.keys = keys


class SiteConflict(Conflict):
    code = "site_conflict"


class DomainClaimed(SiteConflict):
    code = "domain_claimed"


class NothingPublished(CmpError):
    code = "nothing_published"


class Unavailable(CmpError):
    code = "unavailable"


class WriteFailed(Unavailable):
    code = "write_failed"


class ChainContention(Unavailable):
    """Other writers kept adding to these visitors' chains: the batch gives way, retryable."""

    code = "chain_contention"

    def __init__(self, detail: str = "other writers kept adding to these visitors' chains"):
        super().__init__(detail)


def as_value_error(check: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``check(*args, **kwargs)`` with its ``InvalidRequest`` raised as a ``ValueError``: a
    service's own check inside a pydantic validator, so its message becomes that field's error.

    >>> as_value_error(sites.check_languages, ["svenska"])
    Traceback (most recent call last):
    ValueError: 'svenska' is not a language tag like sv, en or pt-BR
    """
    try:
        return check(*args, **kwargs)
    except InvalidRequest as exc:
        raise ValueError(exc.detail) from None
