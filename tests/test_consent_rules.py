"""Property-based tests of the consent rules (which choices a config version accepts)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmp_server._utils import canonical_json, sha256_hex
from cmp_server.defaults import DEFAULT_OPTIONS
from cmp_server.errors import InvalidConsent
from cmp_server.schemas import ConfigOptions, ConfigPurpose, PublishedConfig, ReceiptIn
from cmp_server.services.configs import Published, SiteInfo
from cmp_server.services.receipt_store import NewReceipt
from cmp_server.services.receipts import check_choices, content_hash, record_hash, truncate_ip

PURPOSES = {"necessary": True, "preferences": False, "statistics": False, "marketing": False}


def published(purposes: dict[str, bool] = PURPOSES) -> Published:
    config = PublishedConfig(
        site_key="k", version=1, default_language="en", languages=["en", "sv", "da"],
        policy_url=None, texts={}, vendors=[], cookies=[],
        purposes=[ConfigPurpose(key=k, required=r, name={}, description={})
                  for k, r in purposes.items()],
        options=ConfigOptions.model_validate({
            **DEFAULT_OPTIONS, "gpc": {"purposes": ["marketing"]},
            "consent_lifetime_days": 180, "cookie_domain": None,
        }),
    )
    return Published(SiteInfo(1, "k", ("shop.example",), 180), 1, b"{}", "h", {}, config)


def receipt(choices: dict[str, bool], method: str = "custom", language: str = "en") -> ReceiptIn:
    return ReceiptIn.model_validate(
        {
            "receipt_id": str(uuid.uuid4()),
            "consent_id": str(uuid.uuid4()),
            "config_version": 1,
            "choices": choices,
            "method": method,
            "layer": "first",
            "language": language,
            "page_url": "https://shop.example/",
        }
    )


keys = st.sampled_from([*PURPOSES, "analytics", "ads", "x"])
choices_st = st.dictionaries(keys, st.booleans(), min_size=1)
methods = st.sampled_from(["accept_all", "reject_all", "custom", "withdraw", "gpc"])


def expected_valid(choices: dict[str, bool], method: str) -> bool:
    if set(choices) != set(PURPOSES) or not choices["necessary"]:
        return False
    optional = [choices[k] for k, required in PURPOSES.items() if not required]
    return {
        "accept_all": all(optional),
        "reject_all": not any(optional),
        "gpc": not choices["marketing"],
    }.get(method, True)


@given(choices_st, methods)
def test_choices_are_accepted_exactly_when_they_fit_the_version(
    choices: dict[str, bool], method: str
) -> None:
    try:
        check_choices(receipt(choices, method), published())
    except InvalidConsent:
        assert not expected_valid(choices, method)
    else:
        assert expected_valid(choices, method)


@given(st.fixed_dictionaries({k: st.booleans() for k in PURPOSES}))
def test_a_refused_required_purpose_is_always_rejected(choices: dict[str, bool]) -> None:
    choices["necessary"] = False
    with pytest.raises(InvalidConsent, match="required"):
        check_choices(receipt(choices), published())


@given(st.text(min_size=2, max_size=3, alphabet="abcdefghijklmnopqrstuvwxyz"))
def test_only_the_versions_languages_are_accepted(language: str) -> None:
    choices = dict.fromkeys(PURPOSES, True)
    if language in ("en", "sv", "da"):
        check_choices(receipt(choices, language=language), published())
    else:
        with pytest.raises(InvalidConsent, match="language"):
            check_choices(receipt(choices, language=language), published())


@given(st.ip_addresses())
def test_truncated_ip_never_keeps_the_host_part(address: Any) -> None:
    truncated = truncate_ip(str(address))
    assert truncated is not None
    if address.version == 4:
        assert truncated.endswith(".0")
        assert truncated.rsplit(".", 1)[0] == str(address).rsplit(".", 1)[0]
    elif address.ipv4_mapped is None:
        import ipaddress

        assert ipaddress.ip_address(truncated).packed[6:] == b"\0" * 10
        assert ipaddress.ip_address(truncated).packed[:6] == address.packed[:6]


def test_truncate_ip_of_garbage_is_none() -> None:
    assert truncate_ip("not an ip") is None
    assert truncate_ip(None) is None
    assert truncate_ip("::ffff:192.0.2.77") == "192.0.2.0"
    assert truncate_ip("fe80::1:2:3%eth0") == "fe80::"
    assert truncate_ip("2001:db8:1:2::5") == "2001:db8:1::"
    assert truncate_ip("1.2.3") is None


# What ReceiptIn lets through: no control characters, no lone surrogates, no noncharacters
# (U+FDD0-U+FDEF, and U+xFFFE and U+xFFFF of every plane).
_storable = st.characters(blacklist_categories=("Cc", "Cs")).filter(
    lambda c: not (0xFDD0 <= ord(c) <= 0xFDEF or ord(c) & 0xFFFE == 0xFFFE))


@given(
    st.dictionaries(
        st.text(_storable, min_size=1, max_size=40), st.booleans(), min_size=1, max_size=8
    ),
    methods,
    st.text(_storable, min_size=1, max_size=60),
)
def test_content_hash_is_the_hash_of_the_validated_receipt_as_json(
    choices: dict[str, bool], method: str, path: str
) -> None:
    r = ReceiptIn.model_validate(
        {
            "receipt_id": str(uuid.uuid4()).upper(),  # any spelling of the same id
            "consent_id": str(uuid.uuid4()),
            "config_version": 7,
            "choices": choices,
            "method": method,
            "layer": "second",
            "language": "sv",
            "page_url": "https://shop.example/" + path,
        }
    )
    dumped = sha256_hex(canonical_json(r.model_dump(mode="json")))
    assert content_hash(r) == dumped
    again = ReceiptIn.model_validate_json(orjson.dumps(dict(reversed(r.model_dump().items()))))
    assert content_hash(again) == dumped


def _record_hash_as_first_written(row: NewReceipt, site_key: str, previous_hash: str) -> str:
    """The record hash as it was first specified, field by field: receipts stored since then
    carry hashes made this way, so the fast form must stay equal to it."""
    record = {
        "receipt_id": str(row.receipt_id),
        "consent_id": str(row.consent_id),
        "site": site_key,
        "config_version": row.config_version,
        "texts_hash": row.texts_hash,
        "language": row.language,
        "choices": row.choices,
        "method": row.method,
        "layer": row.layer,
        "page_url": row.page_url,
        "recorded_at": row.recorded_at.astimezone(UTC).isoformat(),
        "expires_at": row.expires_at.astimezone(UTC).isoformat(),
        "user_agent": row.user_agent,
        "ip_truncated": row.ip_truncated,
        "previous_receipt_id": str(row.previous_receipt_id) if row.previous_receipt_id else None,
    }
    return sha256_hex(previous_hash.encode(), canonical_json(record))


@given(
    recorded_at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=2)), ZoneInfo("Europe/Stockholm")]
        ),
    ),
    lifetime=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
    previous=st.none() | st.uuids(),
    text=st.text(max_size=30),
    choices=st.dictionaries(st.text(min_size=1, max_size=10), st.booleans(), max_size=5),
    ip=st.none() | st.sampled_from(["192.0.2.0", "2001:db8:1::"]),
)
def test_record_hash_equals_the_hash_as_first_specified(
    recorded_at: datetime, lifetime: timedelta, previous: uuid.UUID | None, text: str,
    choices: dict[str, bool], ip: str | None,
) -> None:
    row = NewReceipt(
        receipt_id=uuid.uuid4(), consent_id=uuid.uuid4(), site_id=1, config_version=3,
        texts_hash="t" * 64, language="da", choices=choices, method="custom", layer="first",
        page_url="https://shop.example/" + text, recorded_at=recorded_at,
        expires_at=recorded_at + lifetime, user_agent=text, ip_truncated=ip,
        previous_receipt_id=previous, content_hash="c" * 64,
    )
    for previous_hash in ("", "p" * 64):
        assert record_hash(row, "site-key", previous_hash) == _record_hash_as_first_written(
            row, "site-key", previous_hash
        )


def test_record_hash_of_a_row_read_back_through_asyncpg() -> None:
    from asyncpg.pgproto.pgproto import UUID as PgUUID  # what asyncpg hands back

    now = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
    ids = [uuid.uuid4() for _ in range(3)]
    rows = [
        NewReceipt(
            receipt_id=make(ids[0]), consent_id=make(ids[1]), site_id=1, config_version=3,
            texts_hash="t" * 64, language="sv", choices={"necessary": True}, method="custom",
            layer="first", page_url="https://shop.example/", recorded_at=now, expires_at=now,
            user_agent="ua", ip_truncated=None, previous_receipt_id=make(ids[2]),
            content_hash="c" * 64,
        )
        for make in (lambda u: u, lambda u: PgUUID(str(u)))
    ]
    assert type(rows[1].receipt_id) is not uuid.UUID
    assert record_hash(rows[0], "k", "") == record_hash(rows[1], "k", "")
    assert record_hash(rows[1], "k", "") == _record_hash_as_first_written(rows[1], "k", "")
