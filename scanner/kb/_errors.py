"""Errors of the knowledge base.

KnowledgeBaseError            a data or rules file is malformed
└── ImportFormatError         an imported table (CSV) lacks the expected columns
"""

from __future__ import annotations

__all__ = ["ImportFormatError", "KnowledgeBaseError"]


class KnowledgeBaseError(Exception):
    """A knowledge-base file could not be read; the message names the file and the entry."""


class ImportFormatError(KnowledgeBaseError):
    """An imported table is not in the expected format."""
