"""Reading and checking an evidence bundle (docs/contracts.md, "Evidence bundle").

``verify`` runs every check and collects every failure, each naming what failed (a receipt,
a checkpoint, a key) and which check: a report, not a first error. The server's
``verify-receipts`` runs the same checks on what it reads from its database.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .checkpoint import (
    FormatError,
    body_hash,
    fingerprint,
    key_statement,
    parse_body,
    verify_signature,
)
from .merkle import Frontier, leaf_hash, verify_consistency, verify_inclusion
from .records import record_hash, texts_hash

__all__ = ["FORMAT", "Bundle", "BundleError", "Problem", "Report", "read_bundle", "verify"]

FORMAT = "cmp-evidence/1"
# A receipt is stored a moment after its time is taken (a batch, a retry): one recorded this
# long before the checkpoint preceding its position was put in late, behind the log's back.
BACKDATE_SLACK = timedelta(seconds=60)
_MAX_MEMBER = 4 << 30  # bytes of one file of the bundle, unpacked

# The checks, by the names a report gives them.
RECORD = "record hash"
CHAIN = "visitor chain"
INCLUSION = "inclusion proof"
POSITION = "tree position"
BACKDATED = "recorded before an earlier checkpoint"
TEXTS = "texts shown"
SIGNATURE = "checkpoint signature"
SEQUENCE = "checkpoint sequence"
CONSISTENCY = "checkpoint consistency"
KEY = "signing key"
FORMAT_CHECK = "bundle format"


class BundleError(ValueError):
    """Not a readable bundle of this format."""


@dataclass(frozen=True)
class Problem:
    subject: str  # "receipt <id>", "checkpoint <size>", "key <id>", "bundle"
    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.check}: {self.detail}"


@dataclass
class Bundle:
    manifest: dict[str, Any]
    receipts: list[dict[str, Any]]
    configs: dict[int, dict[str, Any]]
    checkpoints: list[dict[str, Any]]
    keys: list[dict[str, Any]]
    absent: list[dict[str, Any]] = field(default_factory=list)
    # Every leaf hash of the tree at the last checkpoint (leaves.txt), when the bundle proves
    # inclusion by the whole tree instead of a proof per receipt: cheaper for many receipts.
    leaves: list[bytes] | None = None


@dataclass
class Report:
    site: str
    receipts: int = 0
    chains: int = 0
    proven: int = 0  # receipts with a verified inclusion proof
    first: str = ""
    last: str = ""
    checkpoints: int = 0
    tree_size: int = 0
    keys: dict[str, str] = field(default_factory=dict)  # key id -> fingerprint, the signers
    purged: int = 0
    pending: int = 0  # receipts stored after the last checkpoint: not proven yet, not wrong
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, subject: str, check: str, detail: str) -> None:
        self.problems.append(Problem(subject, check, detail))


def _lines(zf: zipfile.ZipFile, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _text(zf, name).splitlines() if line.strip()]


def _text(zf: zipfile.ZipFile, name: str) -> str:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise BundleError(f"the bundle has no {name}") from None
    if info.file_size > _MAX_MEMBER:
        raise BundleError(f"{name} is larger than a bundle file may be")
    return zf.read(info).decode()


def _leaves(text: str) -> list[bytes]:
    return [bytes.fromhex(line) for line in text.split()]


def read_bundle(path: str | Path) -> Bundle:
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(_text(zf, "manifest.json"))
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise BundleError(f"manifest.json does not say format {FORMAT!r}")
            lines = _lines(zf, "receipts.jsonl")
            configs = {int(c["version"]): c for c in json.loads(_text(zf, "configs.json"))}
            return Bundle(
                manifest=manifest,
                receipts=[r for r in lines if "absent" not in r],
                absent=[r for r in lines if "absent" in r],
                configs=configs,
                checkpoints=_lines(zf, "checkpoints.jsonl"),
                keys=json.loads(_text(zf, "keys.json")),
                leaves=(_leaves(_text(zf, "leaves.txt")) if "leaves.txt" in zf.namelist()
                        else None),
            )
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


def _check_receipt_texts(
    bundle: Bundle, receipt: dict[str, Any], report: Report,
    hashes: dict[tuple[int, str], str | None],
) -> None:
    subject = f"receipt {receipt.get('receipt_id')}"
    version = int(receipt.get("config_version", -1))
    config = bundle.configs.get(version)
    language = str(receipt.get("language"))
    if config is None:
        report.add(subject, TEXTS, f"config version {receipt.get('config_version')} is not"
                                   " in the bundle")
        return
    if (version, language) not in hashes:  # once per version and language, not per receipt
        texts = config.get("texts", {}).get(language)
        hashes[version, language] = None if texts is None else texts_hash(texts)
    shown = hashes[version, language]
    if shown is None:
        report.add(subject, TEXTS, f"version {config['version']} has no texts in {language}")
    elif shown != receipt.get("texts_hash"):
        report.add(subject, TEXTS, f"the texts of version {config['version']} in {language}"
                                   " are not the texts this receipt was given on")


def verify(bundle: Bundle, trusted: Iterable[str] = ()) -> Report:
    """Every check of the bundle; ``trusted``: key fingerprints known from elsewhere (the
    site's /v1/keys as a witness kept it), which then are the only roots of trust."""
    report = Report(str(bundle.manifest.get("site")))
    keys = _check_keys(bundle, report, frozenset(trusted))
    checkpoints = _check_checkpoints(bundle, report, keys)
    report.checkpoints = len(checkpoints)
    final = checkpoints[-1]["parsed"] if checkpoints else None
    report.tree_size = final.size if final else 0
    final_root = bytes.fromhex(final.root) if final else b""
    # The time of the checkpoint before each position: a receipt recorded well before it
    # was put in late.
    bounds = [(cp["parsed"].size, _time(cp["parsed"].time)) for cp in checkpoints]
    leaves = _check_leaves(bundle, checkpoints, report)

    by_visitor: dict[str, list[dict[str, Any]]] = {}
    positions: dict[int, str] = {}
    hashes: dict[tuple[int, str], str | None] = {}
    sizes = [size for size, _ in bounds]
    for receipt in bundle.receipts:
        report.receipts += 1
        rid = str(receipt.get("receipt_id"))
        subject = f"receipt {rid}"
        by_visitor.setdefault(str(receipt.get("consent_id")), []).append(receipt)
        times = str(receipt.get("recorded_at", ""))
        report.first = min(report.first or times, times)
        report.last = max(report.last, times)
        _check_receipt_texts(bundle, receipt, report, hashes)
        position = receipt.get("tree_position")
        if position is None or final is None or position >= final.size:
            report.pending += 1
            if final is not None and _time(times) < _time(final.time) - BACKDATE_SLACK:
                report.add(subject, BACKDATED, f"recorded {times}, before checkpoint"
                                               f" {final.size} was signed, but not in it")
            continue
        if not isinstance(position, int) or position in positions:
            report.add(subject, POSITION, f"tree position {position} given twice or not a number")
            continue
        positions[position] = rid
        try:
            leaf = leaf_hash(bytes.fromhex(str(receipt.get("record_hash"))))
        except ValueError:
            leaf = b""
        if leaves is not None:
            included = position < len(leaves) and leaves[position] == leaf
        else:
            proof = _hexes(receipt.get("inclusion_proof", []))
            included = proof is not None and verify_inclusion(
                position, final.size, leaf, proof, final_root)
        if not included:
            report.add(subject, INCLUSION, f"not the receipt checkpoint {final.size} holds at"
                                           f" position {position}")
        else:
            report.proven += 1
        preceding = bisect.bisect_right(sizes, position)  # checkpoints of at most that size
        if preceding and _time(times) < bounds[preceding - 1][1] - BACKDATE_SLACK:
            report.add(subject, BACKDATED, f"recorded {times}, but put at position {position},"
                                           f" after a checkpoint of"
                                           f" {bounds[preceding - 1][1].isoformat()}")

    _check_chains(by_visitor, report)
    _check_gaps(bundle, positions, report)
    return report


def _check_leaves(
    bundle: Bundle, checkpoints: list[dict[str, Any]], report: Report
) -> list[bytes] | None:
    """With the whole tree given: the root at each checkpoint's size must be that
    checkpoint's. None (proofs per receipt instead) without it, or when it fails."""
    if bundle.leaves is None:
        return None
    frontier = Frontier()
    sizes = {cp["parsed"].size: cp["parsed"] for cp in checkpoints}
    if len(bundle.leaves) != (checkpoints[-1]["parsed"].size if checkpoints else 0):
        report.add("leaves.txt", INCLUSION, "does not hold the tree of the last checkpoint")
        return []
    good = True
    for leaf in bundle.leaves:
        frontier.append(leaf)
        body = sizes.get(frontier.size)
        if body is not None and frontier.root().hex() != body.root:
            report.add(f"checkpoint {body.size}", INCLUSION,
                       "the tree's leaves do not give its root")
            good = False
    return bundle.leaves if good else []


def _check_chains(by_visitor: dict[str, list[dict[str, Any]]], report: Report) -> None:
    for receipts in by_visitor.values():
        report.chains += 1
        order = sorted(receipts, key=lambda r: (r.get("tree_position") is None,
                                                r.get("tree_position") or 0,
                                                str(r.get("recorded_at"))))
        previous: dict[str, Any] | None = None
        for receipt in order:
            subject = f"receipt {receipt.get('receipt_id')}"
            link = receipt.get("previous_receipt_id")
            # Chained across sites before chains were per site: the repair names the receipt
            # before it on this site, and the hash its record hash was made over.
            repair = receipt.get("chain_repair")
            if isinstance(repair, dict):
                link = repair.get("previous_receipt_id")
            if previous is None:
                # The first here: its predecessor is outside the bundle (or purged); its hash
                # then comes with the receipt.
                prev_hash = str(receipt.get("previous_record_hash") or "")
                if link is None and prev_hash and not isinstance(repair, dict):
                    report.add(subject, CHAIN, "a visitor's first receipt names a predecessor")
            else:
                prev_hash = str(previous.get("record_hash"))
                if link != previous.get("receipt_id"):
                    report.add(subject, CHAIN, f"links to {link}, but the receipt before it"
                                               f" is {previous.get('receipt_id')}")
            if isinstance(repair, dict):
                prev_hash = str(repair.get("linked_hash") or "")
            try:
                ok = record_hash(receipt, prev_hash) == receipt.get("record_hash")
            except (KeyError, TypeError, ValueError):
                ok = False
            if not ok:
                report.add(subject, RECORD, "its fields do not give its record hash")
            previous = receipt


def _check_gaps(bundle: Bundle, positions: dict[int, str], report: Report) -> None:
    """A bundle of a period holds every position between its first and last: a receipt
    missing there was deleted (a purged one is listed as absent, with its leaf)."""
    if bundle.manifest.get("selection", {}).get("kind") != "period" or not positions:
        return
    absent = {int(a["tree_position"]): a for a in bundle.absent}
    report.purged = sum(1 for a in absent.values() if a.get("absent") == "purged")
    # "outside": stored, but recorded just outside the period asked for.
    for position in range(min(positions), max(positions) + 1):
        if position in positions:
            continue
        gap = absent.get(position)
        if gap is None or gap.get("absent") not in ("purged", "outside"):
            subject = f"receipt {gap['receipt_id']}" if gap else f"tree position {position}"
            report.add(subject, POSITION,
                       f"the receipt logged at tree position {position} is missing (deleted?)")
