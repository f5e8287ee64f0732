"""Shapes at the edge: what clients send and get back. Validation happens here (pydantic)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, field_validator

__all__ = ["ErrorOut", "Method", "ReceiptHistoryOut", "ReceiptIn", "ReceiptOut", "ReceiptView"]

Method = Literal["accept_all", "reject_all", "custom", "withdraw", "gpc"]
PurposeKey = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class ReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    receipt_id: UUID
    consent_id: UUID
    config_version: int = Field(ge=1, le=2**31 - 1)
    choices: dict[PurposeKey, StrictBool] = Field(min_length=1, max_length=64)
    method: Method
    layer: Literal["first", "second"]
    language: str = Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    page_url: str = Field(min_length=1, max_length=2048)

    @field_validator("page_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("page_url must be an http(s) URL")
        return value


class ReceiptOut(BaseModel):
    receipt_id: UUID
    consent_id: UUID
    recorded_at: datetime
    expires_at: datetime


class ReceiptView(BaseModel):
    """One receipt as the visitor sees it in their history."""

    receipt_id: UUID
    consent_id: UUID
    config_version: int
    texts_hash: str
    language: str
    choices: dict[str, bool]
    method: str
    layer: str
    page_url: str
    recorded_at: datetime
    expires_at: datetime
    previous_receipt_id: UUID | None
    record_hash: str


class ReceiptHistoryOut(BaseModel):
    receipts: list[ReceiptView]


class ErrorOut(BaseModel):
    error: str
    detail: str
