"""Reading and checking an evidence bundle (docs/contracts.md, "Evidence bundle").

``verify`` runs every check and collects every failure, each naming what failed (a receipt,
a checkpoint, a key) and which check: a report, not a first error. The server's
``verify-receipts`` runs the same checks on what it reads from its database.
"""

from __future__ import annotations

import base64
import binascii
import io
import itertools
import json
import multiprocessing
import os
import zipfile
from array import array
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from .checkpoint import (
    FormatError,
    body_hash,
    fingerprint,
    key_statement,
    parse_body,
    verify_signature,
)
from .merkle import Frontier, verify_consistency
from .receipt_pass import BACKDATE_SLACK, Context, Partial, check_lines
from .records import texts_hash
from .report import (
    BACKDATED,
    CHAIN,
    CONSISTENCY,
    FORMAT_CHECK,
    INCLUSION,
    KEY,
    POSITION,
    RECORD,
    SEQUENCE,
    SIGNATURE,
    TEXTS,
    Problem,
    Report,
)

__all__ = [
    "BACKDATED",
    "BACKDATE_SLACK",
    "CHAIN",
    "CONSISTENCY",
    "FORMAT",
    "FORMAT_CHECK",
    "INCLUSION",
    "KEY",
    "POSITION",
    "RECORD",
    "SEQUENCE",
    "SIGNATURE",
    "TEXTS",
    "Bundle",
    "BundleError",
    "Problem",
    "Report",
    "read_bundle",
    "verify",
]

FORMAT = "cmp-evidence/1"
_PARALLEL_FROM = 50_000  # receipts from which the checks go to several processes
_MAX_MEMBER = 64 << 20  # bytes of one of the small files of the bundle, unpacked
_MAX_LINE = 1 << 20  # bytes of one line of receipts.jsonl or leaves.txt
RECEIPTS = "receipts.jsonl"
LEAVES = "leaves.txt"

class BundleError(ValueError):
    """Not a readable bundle of this format."""


@dataclass
class Bundle:
    """A bundle's small files, read; its receipts and leaves stay in the zip at ``path`` and
    are read a line at a time by ``verify`` (``receipts`` reads them all, for a few)."""

    manifest: dict[str, Any]
    configs: dict[int, dict[str, Any]]
    checkpoints: list[dict[str, Any]]
    keys: list[dict[str, Any]]
    path: Path | IO[bytes]  # the zip (a file object: read from the start each time)
    # Whether inclusion is proven by the whole tree (leaves.txt: every leaf hash of the tree
    # at the last checkpoint) instead of a proof per receipt: cheaper for many receipts.
    whole_tree: bool = False

    def lines(self, name: str) -> Iterator[bytes]:
        """The lines of one of the bundle's files, a line at a time (none over ``_MAX_LINE``)."""
        if hasattr(self.path, "seek"):
            self.path.seek(0)
        try:
            with zipfile.ZipFile(self.path) as zf, zf.open(name) as raw:
                stream = io.BufferedReader(raw, 1 << 20)  # type: ignore[type-var]
                while line := stream.readline(_MAX_LINE + 1):
                    if len(line) > _MAX_LINE:
                        raise BundleError(f"{name} has a line longer than {_MAX_LINE} bytes")
                    if line.strip():
                        yield line
        except (zipfile.BadZipFile, KeyError, OSError) as exc:  # a bad CRC, a missing file
            raise BundleError(f"cannot read {name} from the bundle: {exc}") from None

    def _entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines(RECEIPTS)]

    @property
    def receipts(self) -> list[dict[str, Any]]:
        return [r for r in self._entries() if "absent" not in r]

    @property
    def absent(self) -> list[dict[str, Any]]:
        return [r for r in self._entries() if "absent" in r]


def _text(zf: zipfile.ZipFile, name: str) -> str:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise BundleError(f"the bundle has no {name}") from None
    if info.file_size > _MAX_MEMBER:
        raise BundleError(f"{name} is larger than a bundle file may be")
    return zf.read(info).decode()


def read_bundle(path: str | Path | IO[bytes]) -> Bundle:
    """The bundle's small files; its receipts are read as they are checked."""
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(_text(zf, "manifest.json"))
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise BundleError(f"manifest.json does not say format {FORMAT!r}")
            if RECEIPTS not in zf.namelist():
                raise BundleError(f"the bundle has no {RECEIPTS}")
            configs = {int(c["version"]): c for c in json.loads(_text(zf, "configs.json"))}
            checkpoints = [json.loads(line) for line in
                           _text(zf, "checkpoints.jsonl").splitlines() if line.strip()]
            return Bundle(manifest=manifest, configs=configs, checkpoints=checkpoints,
                          keys=json.loads(_text(zf, "keys.json")),
                          path=Path(path) if isinstance(path, str | Path) else path,
                          whole_tree=LEAVES in zf.namelist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"cannot read {path} as a zip file: {exc}") from None
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise BundleError(f"malformed bundle: {exc}") from None


def _b64(value: Any) -> bytes | None:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return None


def _hexes(values: Iterable[Any]) -> list[bytes] | None:
    try:
        return [bytes.fromhex(str(v)) for v in values]
    except ValueError:
        return None


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _check_keys(
    bundle: Bundle, report: Report, trusted: frozenset[str]
) -> dict[str, dict[str, Any]]:
    """The keys that may sign: the first key (or one the verifier was told to trust), and each
    key introduced by a signature of one before it."""
    keys = sorted(bundle.keys, key=lambda k: str(k.get("created_at", "")))
    good: dict[str, dict[str, Any]] = {}
    for key in keys:
        kid = str(key.get("key_id"))
        raw = _b64(key.get("public_key"))
        subject = f"key {kid}"
        if raw is None or len(raw) != 32 or fingerprint(raw)[:16] != kid:
            report.add(subject, KEY, "its public key does not match its id")
            continue
        print_ = fingerprint(raw)
        if trusted and print_ in trusted:
            good[kid] = key | {"raw": raw}
            continue
        endorser = str(key.get("endorsed_by") or "")
        if not endorser:
            if good or trusted:
                report.add(subject, KEY, "not introduced by an earlier key (a foreign key?)")
                continue
            good[kid] = key | {"raw": raw}  # the first key: trust rests on its fingerprint
            continue
        statement = key_statement(raw, str(key.get("created_at")))
        signature = _b64(key.get("endorsement"))
        if (endorser not in good or signature is None
                or not verify_signature(good[endorser]["raw"], signature, statement)):
            report.add(subject, KEY, f"its introduction by key {endorser} does not verify"
                                     " (a foreign key?)")
            continue
        good[kid] = key | {"raw": raw}
    return good


def _check_checkpoints(
    bundle: Bundle, report: Report, keys: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The checkpoints that verify, in order: signed by a known key while it was current,
    each naming the one before, each tree a prefix of the next."""
    good: list[dict[str, Any]] = []
    site = str(bundle.manifest.get("site"))
    previous: dict[str, Any] | None = None
    for cp in bundle.checkpoints:
        subject = f"checkpoint {cp.get('tree_size')}"
        raw_body = str(cp.get("body", "")).encode()
        try:
            body = parse_body(raw_body)
        except FormatError as exc:
            report.add(subject, FORMAT_CHECK, str(exc))
            continue
        if (body.site, body.size, body.root) != (site, cp.get("tree_size"), cp.get("root_hash")):
            report.add(subject, SIGNATURE, "its fields differ from its signed body")
            continue
        key = keys.get(body.key_id)
        signature = _b64(cp.get("signature"))
        if key is None:
            report.add(subject, KEY, f"signed by key {body.key_id}, not one of the known keys")
            continue
        if signature is None or not verify_signature(key["raw"], signature, raw_body):
            report.add(subject, SIGNATURE, f"the signature by key {body.key_id} does not verify")
            continue
        retired = key.get("retired_at")
        if retired and _time(body.time) > _time(str(retired)):
            report.add(subject, KEY, f"signed by key {body.key_id} after it was retired")
            continue
        if previous is not None:
            prev_body = parse_body(str(previous["body"]).encode())
            if body.previous != body_hash(str(previous["body"]).encode()):
                report.add(subject, SEQUENCE, f"does not follow checkpoint {prev_body.size}"
                                              " (its previous hash names another)")
            elif _time(body.time) < _time(prev_body.time):
                report.add(subject, SEQUENCE, f"dated before checkpoint {prev_body.size}")
            proof = _hexes(cp.get("consistency_proof", []))
            if proof is None or not verify_consistency(
                prev_body.size, body.size, proof, bytes.fromhex(prev_body.root),
                bytes.fromhex(body.root),
            ):
                report.add(subject, CONSISTENCY,
                           f"tree {prev_body.size} is not shown to be a prefix of this tree")
        report.keys[body.key_id] = fingerprint(key["raw"])
        good.append(cp | {"parsed": body})
        previous = cp
    return good


def _texts_hashes(bundle: Bundle) -> dict[tuple[int, str], str | None]:
    """Each config version's texts hash in each of its languages, worked out once."""
    out: dict[tuple[int, str], str | None] = {}
    for version, config in bundle.configs.items():
        texts = config.get("texts", {})
        for language, shown in (texts.items() if isinstance(texts, dict) else ()):
            out[version, str(language)] = None if shown is None else texts_hash(shown)
    return out


def _jobs(bundle: Bundle, jobs: int | None) -> int:
    """Processes for the receipts: by default one per core (at most 8) for a bundle of many."""
    if jobs is not None:
        return max(1, jobs)
    many = int(bundle.manifest.get("receipts") or 0) >= _PARALLEL_FROM
    return min(os.cpu_count() or 1, 8) if many else 1


def verify(bundle: Bundle, trusted: Iterable[str] = (), *, jobs: int | None = None) -> Report:
    """Every check of the bundle; ``trusted``: key fingerprints known from elsewhere (the
    site's /v1/keys as a witness kept it), which then are the only roots of trust. ``jobs``:
    processes checking the receipts side by side (default: one per core for a big bundle)."""
    report = Report(str(bundle.manifest.get("site")))
    keys = _check_keys(bundle, report, frozenset(trusted))
    checkpoints = _check_checkpoints(bundle, report, keys)
    report.checkpoints = len(checkpoints)
    final = checkpoints[-1]["parsed"] if checkpoints else None
    report.tree_size = final.size if final else 0
    # The time of the checkpoint before each position: a receipt recorded well before it
    # was put in late.
    ctx = Context(
        final_size=final.size if final else 0,
        final_root=bytes.fromhex(final.root) if final else b"",
        final_time=_time(final.time) if final else None,
        bounds=[(cp["parsed"].size, _time(cp["parsed"].time)) for cp in checkpoints],
        texts=_texts_hashes(bundle), versions=frozenset(bundle.configs),
        leaves=_check_leaves(bundle, checkpoints, report),
    )
    shards = _jobs(bundle, jobs)
    if shards == 1:
        parts = [check_lines(bundle.lines(RECEIPTS), 0, 1, ctx)]
    else:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        with ProcessPoolExecutor(shards, mp_context=multiprocessing.get_context(method)) as pool:
            parts = list(pool.map(_shard, [(bundle, n, shards, ctx) for n in range(shards)]))
    positions: array[int] = array("q")
    absent: list[dict[str, Any]] = []
    for part in parts:
        report.receipts += part.receipts
        report.chains += part.chains
        report.proven += part.proven
        report.pending += part.pending
        report.first = min(p for p in (report.first, part.first) if p) if part.first else (
            report.first)
        report.last = max(report.last, part.last)
        report.problems.extend(part.problems)
        positions.extend(part.positions)
        absent.extend(part.absent)
    ordered = sorted(positions)
    for before, after in itertools.pairwise(ordered):
        if before == after:
            report.add(f"tree position {after}", POSITION, "given to two receipts")
    _check_gaps(bundle, ordered, absent, report)
    return report


def _shard(args: tuple[Bundle, int, int, Context]) -> Partial:
    bundle, shard, shards, ctx = args
    return check_lines(bundle.lines(RECEIPTS), shard, shards, ctx)


def _check_leaves(
    bundle: Bundle, checkpoints: list[dict[str, Any]], report: Report
) -> bytes | None:
    """With the whole tree given: the root at each checkpoint's size must be that
    checkpoint's; the leaves, 32 bytes each. None (proofs per receipt instead) without it;
    no leaves when it fails."""
    if not bundle.whole_tree:
        return None
    frontier = Frontier()
    sizes = {cp["parsed"].size: cp["parsed"] for cp in checkpoints}
    final = checkpoints[-1]["parsed"].size if checkpoints else 0
    leaves = bytearray()
    good = True
    for line in bundle.lines(LEAVES):
        try:
            leaf = bytes.fromhex(line.decode())
        except (ValueError, UnicodeDecodeError):
            leaf = b""
        if len(leaf) != 32 or frontier.size >= final:
            report.add(LEAVES, INCLUSION, "does not hold the tree of the last checkpoint")
            return b""
        frontier.append(leaf)
        leaves += leaf
        body = sizes.get(frontier.size)
        if body is not None and frontier.root().hex() != body.root:
            report.add(f"checkpoint {body.size}", INCLUSION,
                       "the tree's leaves do not give its root")
            good = False
    if frontier.size != final:
        report.add(LEAVES, INCLUSION, "does not hold the tree of the last checkpoint")
        return b""
    return bytes(leaves) if good else b""


def _check_gaps(
    bundle: Bundle, positions: list[int], absent_entries: list[dict[str, Any]], report: Report
) -> None:
    """A bundle of a period holds every position between its first and last: a receipt
    missing there was deleted (a purged one is listed as absent, with its leaf)."""
    if bundle.manifest.get("selection", {}).get("kind") != "period" or not positions:
        return
    absent = {int(a["tree_position"]): a for a in absent_entries}
    report.purged = sum(1 for a in absent.values() if a.get("absent") == "purged")
    # "outside": stored, but recorded just outside the period asked for.
    present = iter(positions)
    following = next(present, None)
    for position in range(positions[0], positions[-1] + 1):
        if position == following:
            while following is not None and following <= position:
                following = next(present, None)
            continue
        gap = absent.get(position)
        if gap is None or gap.get("absent") not in ("purged", "outside"):
            subject = f"receipt {gap['receipt_id']}" if gap else f"tree position {position}"
            report.add(subject, POSITION,
                       f"the receipt logged at tree position {position} is missing (deleted?)")
