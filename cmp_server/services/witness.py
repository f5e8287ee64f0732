"""Witnessing (issue 21): each new checkpoint is POSTed to the witness URLs an operator set
(``CMP_WITNESS_URLS``), and the latest checkpoint of each site is written to a file
(``CMP_CHECKPOINT_FILE``) for operators who mail or archive it. Anyone may also keep copies
from ``GET /v1/sites/{key}/checkpoints``; a witness that missed one fetches it there.

A POST is the checkpoint's JSON (``CheckpointView.as_json``); any 2xx answer is a delivery.
The POSTs are deliveries in the workers' queue, as webhooks are (``deliveries.py``): an event
``checkpoint.witness`` per checkpoint and witness (the URL and the checkpoint), claimed by one
worker at a time, tried again with backoff for a day, every attempt logged. A witness that
stays down never holds up the log: the checkpoint is signed and stored already.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .._utils import utcnow
from ..models import Delivery, Event
from . import outbound
from .checkpoints import CheckpointView

__all__ = ["EVENT", "post", "publish", "queue", "write_latest"]

log = logging.getLogger(__name__)

EVENT = "checkpoint.witness"  # not one staff subscribe to: the operator's own channel
CHANNEL = "witness"
HEADERS = {"Content-Type": "application/json", "User-Agent": "cmp-server-witness/1"}


def write_latest(path: Path, made: Sequence[CheckpointView]) -> None:
    """Each site's latest checkpoint, one JSON object keyed by site key, replaced whole (a
    reader never sees half a file)."""
    try:
        latest = json.loads(path.read_text())
        if not isinstance(latest, dict):
            latest = {}
    except (OSError, ValueError):
        latest = {}
    for view in made:
        latest[view.site] = view.as_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(path.name + ".tmp")
    staged.write_text(json.dumps(latest, indent=2, sort_keys=True) + "\n")
    os.replace(staged, path)


async def queue(
    made: Sequence[CheckpointView], urls: Sequence[str], *, now: datetime | None = None
) -> list[Delivery]:
    """A delivery of each checkpoint to each witness, due now, for the workers to send."""
    if not made or not urls:
        return []
    at = now or utcnow()
    site_ids = {view.site: site_id for view, site_id in zip(
        made, await _site_ids([view.site for view in made]), strict=True)}
    rows = []
    for view in made:
        for url in urls:
            event = await Event.create(site_id=site_ids[view.site], type=EVENT, created_at=at,
                                       data={"url": url, "checkpoint": view.as_json()})
            rows.append(Delivery(event_id=event.id, channel=CHANNEL, due_at=at, created_at=at))
    await Delivery.bulk_create(rows)
    return rows


async def _site_ids(keys: list[str]) -> list[int]:
    from ..models import Site

    ids = dict(await Site.filter(key__in=keys).values_list("key", "id"))
    return [int(ids[key]) for key in keys]


async def post(event: Event, *, timeout: float) -> outbound.Answer:
    """One try at a witness delivery (``deliveries`` records it). The URL is the operator's
    own setting, so it may be on a private network (a witness beside the server)."""
    url = str(event.data["url"])
    body = json.dumps(event.data["checkpoint"]).encode()
    return await outbound.post(url, body, dict(HEADERS), allow_private=True, timeout=timeout)


async def publish(
    made: Sequence[CheckpointView], urls: Sequence[str], latest_file: Path | None
) -> None:
    """What a checkpoint run does with what it signed: the file, and the witnesses' queue."""
    if not made:
        return
    if latest_file is not None:
        try:
            write_latest(latest_file, made)
        except OSError as exc:
            log.error("cannot write the latest checkpoints to %s: %s", latest_file, exc)
    await queue(made, urls)
