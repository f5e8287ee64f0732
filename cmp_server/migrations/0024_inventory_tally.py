"""The inventory's counts kept per site (issue 19): ``inventory_tally`` holds how many of a
site's items are in each group of what the counts ask (purpose, review status, seen before
consent, no longer seen), kept by the database's own triggers on ``inventory_item``, so that
every writer (services, the scan store's batches, bulk edits, raw SQL, a site's deletion) keeps
it and the admin's counts read a few rows instead of every item of the site
(``services/inventory.counts``). ``purpose`` is 0 for an item without one.

- SQLite (one writer at a time): one row per group, updated in place by row triggers.
- PostgreSQL (writers side by side): statement triggers append one row per group a statement
  changed, its delta, and never update a row, so no writer waits for another's tally row (nor
  deadlocks on two); the reader sums them and folds a site's rows into one per group now and
  then (``Dialect.fold_tally``).

Existing items are counted here.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

_GROUP = "site_id, purpose, review_status, seen_before, missing"


def _of(row: str) -> str:
    return (f"{row}.site_id, COALESCE({row}.purpose_id, 0), {row}.review_status, "
            f"{row}.before_consent, {row}.missing_since IS NOT NULL")


def _sqlite_add(row: str, n: int) -> str:
    # Not INSERT OR IGNORE: a trigger's conflict clause gives way to the outer statement's,
    # and an outer INSERT OR REPLACE would reset the group's row.
    group = (f"site_id = {row}.site_id AND purpose = COALESCE({row}.purpose_id, 0)"
             f" AND review_status = {row}.review_status"
             f" AND seen_before = {row}.before_consent"
             f" AND missing = ({row}.missing_since IS NOT NULL)")
    return f"""
    INSERT INTO inventory_tally ({_GROUP}, n) SELECT {_of(row)}, 0
     WHERE NOT EXISTS (SELECT 1 FROM inventory_tally WHERE {group});
    UPDATE inventory_tally SET n = n + ({n}) WHERE {group};"""


_SQLITE = f"""
CREATE TABLE inventory_tally (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id INT NOT NULL,
    purpose INT NOT NULL,
    review_status VARCHAR(16) NOT NULL,
    seen_before INT NOT NULL,
    missing INT NOT NULL,
    n INT NOT NULL
);
CREATE UNIQUE INDEX inventory_tally_group ON inventory_tally ({_GROUP});
CREATE TRIGGER inventory_tally_insert AFTER INSERT ON inventory_item BEGIN
    {_sqlite_add("NEW", 1)}
END;
CREATE TRIGGER inventory_tally_delete AFTER DELETE ON inventory_item BEGIN
    {_sqlite_add("OLD", -1)}
END;
CREATE TRIGGER inventory_tally_update AFTER UPDATE ON inventory_item
WHEN OLD.site_id IS NOT NEW.site_id OR OLD.purpose_id IS NOT NEW.purpose_id
  OR OLD.review_status IS NOT NEW.review_status OR OLD.before_consent IS NOT NEW.before_consent
  OR (OLD.missing_since IS NULL) IS NOT (NEW.missing_since IS NULL)
BEGIN
    {_sqlite_add("OLD", -1)}
    {_sqlite_add("NEW", 1)}
END;
INSERT INTO inventory_tally ({_GROUP}, n)
SELECT site_id, COALESCE(purpose_id, 0), review_status, before_consent,
       missing_since IS NOT NULL, count(*)
  FROM inventory_item GROUP BY 1, 2, 3, 4, 5;
"""

_SQLITE_BACK = """
DROP TRIGGER IF EXISTS inventory_tally_insert;
DROP TRIGGER IF EXISTS inventory_tally_delete;
DROP TRIGGER IF EXISTS inventory_tally_update;
DROP TABLE IF EXISTS inventory_tally;
"""


def _pg_rows(table: str, sign: str) -> str:
    return (f"SELECT site_id, COALESCE(purpose_id, 0) AS purpose, review_status, "
            f"before_consent AS seen_before, missing_since IS NOT NULL AS missing, "
            f"{sign}1 AS d FROM {table}")


def _pg_function(name: str, rows: str) -> str:
    return f"""
CREATE FUNCTION {name}() RETURNS trigger AS $$
BEGIN
    INSERT INTO inventory_tally ({_GROUP}, n)
    SELECT {_GROUP}, sum(d) FROM ({rows}) AS changed
     GROUP BY {_GROUP} HAVING sum(d) <> 0;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;"""


_POSTGRES = f"""
CREATE TABLE inventory_tally (
    id BIGSERIAL PRIMARY KEY,
    site_id INT NOT NULL,
    purpose INT NOT NULL,
    review_status VARCHAR(16) NOT NULL,
    seen_before BOOL NOT NULL,
    missing BOOL NOT NULL,
    n INT NOT NULL
);
CREATE INDEX inventory_tally_site ON inventory_tally (site_id);
{_pg_function("inventory_tally_insert", _pg_rows("new_rows", ""))}
{_pg_function("inventory_tally_delete", _pg_rows("old_rows", "-"))}
{_pg_function("inventory_tally_update",
              _pg_rows("new_rows", "") + " UNION ALL " + _pg_rows("old_rows", "-"))}
CREATE TRIGGER inventory_tally_insert AFTER INSERT ON inventory_item
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_tally_insert();
CREATE TRIGGER inventory_tally_delete AFTER DELETE ON inventory_item
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_tally_delete();
CREATE TRIGGER inventory_tally_update AFTER UPDATE ON inventory_item
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_tally_update();
INSERT INTO inventory_tally ({_GROUP}, n)
SELECT site_id, COALESCE(purpose_id, 0), review_status, before_consent,
       missing_since IS NOT NULL, count(*)
  FROM inventory_item GROUP BY 1, 2, 3, 4, 5;
"""

_POSTGRES_BACK = """
DROP TRIGGER IF EXISTS inventory_tally_insert ON inventory_item;
DROP TRIGGER IF EXISTS inventory_tally_delete ON inventory_item;
DROP TRIGGER IF EXISTS inventory_tally_update ON inventory_item;
DROP FUNCTION IF EXISTS inventory_tally_insert();
DROP FUNCTION IF EXISTS inventory_tally_delete();
DROP FUNCTION IF EXISTS inventory_tally_update();
DROP TABLE IF EXISTS inventory_tally;
"""


async def forward(apps, schema_editor):
    client = schema_editor.client
    sqlite = client.capabilities.dialect == "sqlite"
    await client.execute_script(_SQLITE if sqlite else _POSTGRES)


async def backward(apps, schema_editor):
    client = schema_editor.client
    sqlite = client.capabilities.dialect == "sqlite"
    await client.execute_script(_SQLITE_BACK if sqlite else _POSTGRES_BACK)


class Migration(migrations.Migration):
    dependencies = [("models", "0020_api_tokens")]

    operations = [ops.RunPython(forward, backward)]
