"""The project's own tracker knowledge base and the Open Cookie Database importer.

    from scanner.kb import KnowledgeBase
    kb = KnowledgeBase.builtin()
    kb.match_cookie("_fbp", ".example.com").vendor.name     # 'Meta Pixel'
    kb.match_host("connect.facebook.net").key               # 'meta'

Vendor tables live in ``data/*.toml`` (format in ``data/README.md``), written by us.
"""

from ._errors import ImportFormatError, KnowledgeBaseError
from ._knowledge import KnowledgeBase
from ._lifetime import Lifetime, parse_lifetime
from ._model import (
    CATEGORIES,
    Category,
    Match,
    MatchKind,
    Party,
    Rule,
    RuleKind,
    StorageKind,
    Vendor,
)
from ._ocd import (
    ImportedRule,
    ImportedRules,
    SkippedRow,
    import_open_cookie_database,
    read_rules,
    write_rules,
)

__all__ = [
    "CATEGORIES",
    "Category",
    "ImportFormatError",
    "ImportedRule",
    "ImportedRules",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "Lifetime",
    "Match",
    "MatchKind",
    "Party",
    "Rule",
    "RuleKind",
    "SkippedRow",
    "StorageKind",
    "Vendor",
    "import_open_cookie_database",
    "parse_lifetime",
    "read_rules",
    "write_rules",
]
