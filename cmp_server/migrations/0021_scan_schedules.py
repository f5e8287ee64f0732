"""Scan schedules as records of their own (issue 22, part 3): a site has any number, each with
its pages (a start URL, extra pages, or every domain's start page), page budget, passes,
frequency and time of day (UTC).

The site's one schedule of before (``site.scan_url`` and ``site.scan_interval_hours``) becomes
one schedule row, so no schedule is lost: its interval becomes the nearest frequency (6 or 12
hours, daily, weekly, monthly), it runs next when it would have (the last scan's request plus
the interval, or now when it never ran) and at that time of day from then on; it scans as the
old schedule did (30 pages, all three passes). A start URL without an interval (only the start
form's suggestion) is kept as a schedule that is turned off. Then the two columns go, with
``ALTER TABLE … DROP COLUMN`` on both databases (tortoise's generic RemoveField rebuilds
``site`` on SQLite, which would delete every site's purposes, vendors and inventory: see
``migrations/__init__.py``).

Going back adds the columns again and gives each site its first schedule's start URL and, if
that schedule is on, its frequency in hours.
"""

from datetime import UTC, datetime, timedelta

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

_HOURS = {"every_6_hours": 6, "every_12_hours": 12, "daily": 24, "weekly": 168,
          "monthly": 720}
_PASSES = '["none", "accept", "reject"]'


def _frequency(hours: int) -> str:
    for name, limit in (("every_6_hours", 8), ("every_12_hours", 18), ("daily", 96),
                        ("weekly", 400)):
        if hours <= limit:
            return name
    return "monthly"


def _moment(value: object) -> datetime | None:
    if value is None:
        return None
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def forward(apps, schema_editor):
    client = schema_editor.client
    sqlite = client.capabilities.dialect == "sqlite"
    sites = await client.execute_query_dict(
        'SELECT "id", "scan_url", "scan_interval_hours" FROM "site"'
        ' WHERE "scan_interval_hours" IS NOT NULL OR "scan_url" IS NOT NULL ORDER BY "id"')
    now = datetime.now(UTC).replace(microsecond=0)
    marks = ", ".join("?" if sqlite else f"${n}" for n in range(1, 15))
    for site in sites:
        hours = site["scan_interval_hours"]
        last = await client.execute_query_dict(
            'SELECT MAX("requested_at") AS "at" FROM "scan_job" WHERE "site_id" = '
            + str(int(site["id"])))
        previous = _moment(last[0]["at"]) if last else None
        due = previous + timedelta(hours=hours) if hours and previous else now
        enabled = bool(hours)
        values = [
            site["id"], site["scan_url"], "[]", False, 30, _PASSES,
            _frequency(hours) if hours else "daily", due.strftime("%H:%M"), due.weekday(),
            min(due.day, 28), enabled, due if enabled else None, previous, now,
        ]
        if sqlite:
            values = [v.isoformat(" ") if isinstance(v, datetime) else v for v in values]
        await client.execute_query(
            'INSERT INTO "scan_schedule" ("site_id", "start_url", "extra_urls", "all_domains",'
            ' "max_pages", "passes", "frequency", "time_of_day", "weekday", "day_of_month",'
            ' "enabled", "next_run_at", "last_queued_at", "created_at")'
            f" VALUES ({marks})", values)


async def backward(apps, schema_editor):
    client = schema_editor.client
    sqlite = client.capabilities.dialect == "sqlite"
    rows = await client.execute_query_dict(
        'SELECT "site_id", "start_url", "frequency", "enabled" FROM "scan_schedule"'
        ' ORDER BY "site_id", "enabled" DESC, "id"')
    done: set[int] = set()
    for row in rows:
        if row["site_id"] in done:
            continue
        done.add(row["site_id"])
        hours = _HOURS.get(row["frequency"], 24) if row["enabled"] else None
        marks = ("?", "?", "?") if sqlite else ("$1", "$2", "$3")
        await client.execute_query(
            f'UPDATE "site" SET "scan_url" = {marks[0]}, "scan_interval_hours" = {marks[1]}'
            f' WHERE "id" = {marks[2]}', [row["start_url"], hours, row["site_id"]])


class _DropSiteColumn(ops.RemoveField):
    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor:
            await state_editor.client.execute_script(
                f'ALTER TABLE "site" DROP COLUMN "{self.name}"')


class Migration(migrations.Migration):
    dependencies = [('models', '0018_checkpoints')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ScanSchedule',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('site', fields.ForeignKeyField('models.Site', source_field='site_id', db_constraint=True, to_field='id', related_name='scan_schedules', on_delete=OnDelete.CASCADE)),
                ('start_url', fields.CharField(null=True, max_length=2000)),
                ('extra_urls', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('all_domains', fields.BooleanField(default=False)),
                ('max_pages', fields.IntField(default=30)),
                ('passes', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('frequency', fields.CharField(default='daily', max_length=16)),
                ('time_of_day', fields.CharField(default='03:00', max_length=5)),
                ('weekday', fields.IntField(default=0)),
                ('day_of_month', fields.IntField(default=1)),
                ('enabled', fields.BooleanField(default=True)),
                ('next_run_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_queued_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'scan_schedule', 'app': 'models', 'indexes': [Index(fields=['enabled', 'next_run_at'])], 'pk_attr': 'id', 'table_description': 'A recurring scan of a site: its pages, budget, passes and when it runs.'},
            bases=['Model'],
        ),
        ops.RunPython(forward, backward),
        _DropSiteColumn(model_name='Site', name='scan_interval_hours'),
        _DropSiteColumn(model_name='Site', name='scan_url'),
    ]
