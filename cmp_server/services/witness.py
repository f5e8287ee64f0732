"""Witnessing (issue 21): each new checkpoint is POSTed to the witness URLs an operator set
(``CMP_WITNESS_URLS``), and the latest checkpoint of each site is written to a file
(``CMP_CHECKPOINT_FILE``) for operators who mail or archive it. Anyone may also keep copies
from ``GET /v1/sites/{key}/checkpoints``; a witness that missed one fetches it there.

A POST is the checkpoint's JSON (``CheckpointView.as_json``); any 2xx answer is a delivery.
Each is tried three times with a pause between, with a timeout; a witness that stays down is
logged, and never holds up the log (the checkpoint is signed and stored already).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from .checkpoints import CheckpointView

__all__ = ["deliver", "publish", "write_latest"]

log = logging.getLogger(__name__)

ATTEMPTS = 3
PAUSE = 1.0  # seconds before the second try, doubled for the third
TIMEOUT = 10.0


def _post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "cmp-server-witness/1"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310 (the operator's URL)
        return int(answer.status)


async def deliver(url: str, checkpoint: CheckpointView, *, pause: float = PAUSE) -> bool:
    """POST one checkpoint to one witness, with retries; whether it was taken."""
    body = json.dumps(checkpoint.as_json()).encode()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            status = await asyncio.to_thread(_post, url, body)
            if 200 <= status < 300:
                return True
            problem = f"answered {status}"
        except urllib.error.HTTPError as exc:
            problem = f"answered {exc.code}"
        except (OSError, ValueError) as exc:
            problem = str(exc)
        if attempt < ATTEMPTS:
            log.warning("witness %s: checkpoint %s/%d not taken (%s); trying again", url,
                        checkpoint.site, checkpoint.tree_size, problem)
            await asyncio.sleep(pause * 2 ** (attempt - 1))
    log.error("witness %s did not take checkpoint %s/%d after %d tries (%s)", url,
              checkpoint.site, checkpoint.tree_size, ATTEMPTS, problem)
    return False


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


async def publish(
    made: Sequence[CheckpointView], urls: Sequence[str], latest_file: Path | None,
    *, pause: float = PAUSE,
) -> None:
    if not made:
        return
    if latest_file is not None:
        try:
            write_latest(latest_file, made)
        except OSError as exc:
            log.error("cannot write the latest checkpoints to %s: %s", latest_file, exc)
    await asyncio.gather(*(deliver(url, view, pause=pause) for url in urls for view in made))
