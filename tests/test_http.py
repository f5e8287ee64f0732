"""HTTP plumbing (``cmp_server/_http.py``): the one table from domain errors to statuses, and
bounded body reading."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from cmp_server import _http, errors

ERRORS = [
    cls for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.CmpError) and cls is not errors.CmpError
]


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_domain_error_has_a_status_and_is_in_the_tree(cls: type[errors.CmpError]) -> None:
    assert _http.status_for(cls("x")) != 500
    assert cls.__name__ in errors.__all__
    # The module docstring draws the tree: every class in it, with its code.
    assert f"{cls.__name__} " in (errors.__doc__ or "") and f"({cls.code})" in errors.__doc__


def test_the_nearest_listed_class_decides_whatever_the_order() -> None:
    assert _http.status_for(errors.InvalidConsent("x")) == 422  # not InvalidRequest's 400
    assert _http.status_for(errors.BodyTooLarge("x")) == 413
    assert _http.status_for(errors.SiteNotFound("x")) == 404

    class Stricter(errors.InvalidConsent):
        code = "stricter"

    class Other(errors.InvalidRequest):
        code = "other"

    assert _http.status_for(Stricter("x")) == 422
    assert _http.status_for(Other("x")) == 400
    # Reordered, the table gives the same answers.
    reordered = dict(reversed(list(_http.STATUS.items())))
    original = dict(_http.STATUS)
    try:
        _http.STATUS.clear()
        _http.STATUS.update(reordered)
        assert _http.status_for(Stricter("x")) == 422
        assert _http.status_for(errors.BodyTooLarge("x")) == 413
    finally:
        _http.STATUS.clear()
        _http.STATUS.update(original)


async def _never() -> dict[str, object]:
    await asyncio.Event().wait()
    return {}


async def test_a_stalled_body_times_out_and_a_cancellation_stays_one() -> None:
    """read_body's deadline (one sweep for all readers, not a timer per request) turns its own
    cancellation into BodyTimeout, and leaves anyone else's cancellation a cancellation."""
    with pytest.raises(errors.BodyTimeout):
        await _http.read_body(_never, None, 100, timeout=0.05)
    reader = asyncio.create_task(_http.read_body(_never, None, 100, timeout=60))
    await asyncio.sleep(0.05)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    sweeper = _http._deadlines._sweeper
    assert sweeper is not None
    await asyncio.wait_for(sweeper, 5)  # nothing left to watch: the sweep ends by itself


async def test_read_body_refuses_too_much_declared_or_sent() -> None:
    parts = iter([{"type": "http.request", "body": b"x" * 60, "more_body": True},
                  {"type": "http.request", "body": b"x" * 60, "more_body": False}])

    async def receive() -> dict[str, object]:
        return next(parts)

    with pytest.raises(errors.BodyTooLarge):
        await _http.read_body(receive, "500", 100)
    with pytest.raises(errors.BodyTooLarge):
        await _http.read_body(receive, None, 100)
