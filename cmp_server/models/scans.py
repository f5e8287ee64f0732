"""Scans: queued jobs, schedules and stored results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from .sites import Site

__all__ = [
    "Scan",
    "ScanJob",
    "ScanSchedule",
]


class ScanJob(Model):
    """A requested scan, claimed by one worker at a time and claimed again if it goes stale."""

    id = fields.IntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="scan_jobs", on_delete=fields.CASCADE
    )
    site_id: int
    status = fields.CharField(max_length=16, default="queued")  # queued | running | done | failed
    options: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    requested_by = fields.CharField(max_length=200, null=True)
    requested_at = fields.DatetimeField(auto_now_add=True)
    claimed_by = fields.CharField(max_length=200, null=True)
    claimed_at = fields.DatetimeField(null=True)
    heartbeat_at = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    progress: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    finished_at = fields.DatetimeField(null=True)
    error = fields.TextField(null=True)

    class Meta:
        table = "scan_job"
        indexes = (Index(fields=("status", "requested_at")),)

class ScanSchedule(Model):
    """A recurring scan of a site: its pages, budget, passes and when it runs."""

    id = fields.IntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="scan_schedules", on_delete=fields.CASCADE
    )
    site_id: int
    start_url = fields.CharField(max_length=2000, null=True)  # null: the first domain's
    extra_urls: fields.Field[list[str]] = fields.JSONField(default=list)
    all_domains = fields.BooleanField(default=False)  # each domain's start page as well
    max_pages = fields.IntField(default=30)
    passes: fields.Field[list[str]] = fields.JSONField(default=list)
    # daily | weekly | monthly | every_6_hours | every_12_hours, at time_of_day (HH:MM, UTC);
    # weekly on weekday (0: Monday), monthly on day_of_month (1-28).
    frequency = fields.CharField(max_length=16, default="daily")
    time_of_day = fields.CharField(max_length=5, default="03:00")
    weekday = fields.IntField(default=0)
    day_of_month = fields.IntField(default=1)
    enabled = fields.BooleanField(default=True)
    next_run_at = fields.DatetimeField(null=True)  # null: disabled
    last_queued_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "scan_schedule"
        indexes = (Index(fields=("enabled", "next_run_at")),)

class Scan(Model):
    """A finished scan: the scanner's report as it came, and what changed since the last one."""

    id = fields.IntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="scans", on_delete=fields.CASCADE
    )
    job: fields.ForeignKeyNullableRelation[ScanJob] = fields.ForeignKeyField(
        "models.ScanJob", related_name="scans", null=True, on_delete=fields.SET_NULL
    )
    started_at = fields.DatetimeField()
    finished_at = fields.DatetimeField()
    report = fields.TextField()
    summary: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    diff: fields.Field[dict[str, object]] = fields.JSONField(default=dict)

    class Meta:
        table = "scan"
