"""The contracts of ``cmp_server/schemas.py`` held to their other side: the embed's JSDoc
typedefs (embed/src/config.js, receipts.js) name exactly the fields of the published config's
and the receipt's models, so a field added on one side and not the other fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from cmp_server.openapi import openapi_document
from cmp_server.schemas import (
    METHOD_LABELS,
    METHODS,
    Appearance,
    BannerLogo,
    ConfigCookie,
    ConfigPurpose,
    ConfigVendor,
    PublishedConfig,
    ReceiptIn,
)

EMBED = Path(__file__).resolve().parents[1] / "embed" / "src"
# `@typedef {{a: string, b?: number, c: Object<string, string>}} Name`
TYPEDEF = re.compile(r"@typedef \{\{(?P<body>.*?)\}\}\s+(?P<name>\w+)", re.S)
# Embed-only fields: the admin's preview flag is added to a draft's config, never published.
EMBED_ONLY = {"Config": {"preview"}}


def _typedefs(source: str) -> dict[str, set[str]]:
    found = {}
    for m in TYPEDEF.finditer(source):
        body = re.sub(r"\s*\*\s*", " ", m["body"])
        # Property names are the identifiers before a ":" at the top level of the braces.
        depth, names, token = 0, set(), ""
        for ch in body:
            if ch in "<({[":
                depth += 1
            elif ch in ">)}]":
                depth -= 1
            if depth == 0 and ch == ":":
                names.add(token.strip().rstrip("?").split(",")[-1].strip())
                token = ""
            elif depth == 0 and ch == ",":
                token = ""
            else:
                token += ch
        found[m["name"]] = names
    return found


@pytest.mark.parametrize(
    ("file", "typedef", "model"),
    [
        ("config.js", "Config", PublishedConfig),
        ("config.js", "Purpose", ConfigPurpose),
        ("config.js", "Vendor", ConfigVendor),
        ("config.js", "Item", ConfigCookie),
        ("config.js", "Appearance", Appearance),
        ("receipts.js", "Receipt", ReceiptIn),
    ],
)
def test_the_embeds_typedef_names_the_models_fields(
    file: str, typedef: str, model: type[BaseModel]
) -> None:
    names = _typedefs((EMBED / file).read_text(encoding="utf-8"))[typedef]
    assert names - EMBED_ONLY.get(typedef, set()) == set(model.model_fields)


def test_the_embeds_logo_type_names_the_models_fields() -> None:
    source = (EMBED / "config.js").read_text(encoding="utf-8")
    logo = re.search(r"logo\?: \{(?P<body>[^}]*)\}", source)
    assert logo is not None
    names = {part.split(":")[0].strip() for part in logo["body"].split(",")}
    assert names == set(BannerLogo.model_fields)


def test_the_typedef_reader_reads_what_it_should() -> None:
    # The check above would pass on two empty sets: the reader finds real names.
    parsed = _typedefs("/** @typedef {{a: string, b?: Object<string, number>,\n *   c: x[]}} T */")
    assert parsed == {"T": {"a", "b", "c"}}


def test_the_openapi_document_describes_the_published_config() -> None:
    doc = openapi_document()
    schema = doc["paths"]["/v1/sites/{site_key}/config"]["get"]["responses"]["200"]
    ref = schema["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/PublishedConfig"
    config = doc["components"]["schemas"]["PublishedConfig"]
    assert set(config["properties"]) == set(PublishedConfig.model_fields)
    assert {"ConfigPurpose", "ConfigVendor", "ConfigCookie", "ConfigOptions"} <= set(
        doc["components"]["schemas"]
    )


def test_every_method_has_one_label() -> None:
    assert tuple(METHOD_LABELS) == METHODS
    assert len(set(METHOD_LABELS.values())) == len(METHODS)
