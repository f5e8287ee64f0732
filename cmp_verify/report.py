"""What a verification found: a report of every failed check, each naming what failed (a
receipt, a checkpoint, a key) and the check, by the names below."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Problem", "Report"]

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


@dataclass(frozen=True)
class Problem:
    subject: str  # "receipt <id>", "checkpoint <size>", "key <id>", "bundle"
    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.check}: {self.detail}"


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
