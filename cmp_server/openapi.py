"""The OpenAPI description of the public API, built from the same pydantic models the routes use,
and of the JSON admin API (``openapi_admin.py``: tag ``admin``, bearer tokens).

Served at ``/v1/openapi.json``; the fuzz tests (schemathesis) are driven by it.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from .openapi_admin import admin_components, admin_paths
from .schemas import ErrorOut, PublishedConfig, ReceiptHistoryOut, ReceiptIn, ReceiptOut

__all__ = ["openapi_document"]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }


def openapi_document() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(ReceiptIn, "validation"),
         *((m, "serialization") for m in (ReceiptOut, ReceiptHistoryOut, ErrorOut,
                                          PublishedConfig))],
        ref_template="#/components/schemas/{model}",
    )
    components = schemas.get("$defs", {})
    site_key = {"name": "site_key", "in": "path", "required": True, "schema": {"type": "string"}}
    origin = {"name": "Origin", "in": "header", "required": False, "schema": {"type": "string"}}
    receipt_body = {"$ref": "#/components/schemas/ReceiptIn"}
    json_ok = {"application/json": {"schema": {"type": "object"}}}
    admin_schemas, security = admin_components()
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "cmp-server public API", "version": "1"},
        "tags": [{"name": "public", "description": "What the embed and visitors use"},
                 {"name": "admin", "description": "The JSON admin API: the admin's services "
                  "behind API tokens (Authorization: Bearer)"}],
        "paths": {
            "/v1/sites/{site_key}/config": {
                "get": {
                    "operationId": "getConfig",
                    "parameters": [site_key],
                    "responses": {
                        "200": {
                            "description": "The published config (docs/contracts.md)",
                            "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/PublishedConfig"}
                            }},
                        },
                        "304": {"description": "Not modified"},
                        "404": _error("No such site, or nothing published"),
                    },
                }
            },
            "/v1/sites/{site_key}/cmp.js": {
                "get": {
                    "operationId": "getScript",
                    "parameters": [site_key],
                    "responses": {
                        "200": {
                            "description": "The embed with the config inlined",
                            "content": {"text/javascript": {"schema": {"type": "string"}}},
                        },
                        "304": {"description": "Not modified"},
                        "404": _error("No such site, or nothing published"),
                    },
                }
            },
            "/v1/sites/{site_key}/consents": {
                "post": {
                    "operationId": "recordConsent",
                    "parameters": [site_key, origin],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": receipt_body},
                            "text/plain": {"schema": receipt_body},
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Recorded (or recorded before with this content)",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ReceiptOut"}
                                }
                            },
                        },
                        "400": _error("Malformed body"),
                        "403": _error("Origin not among the site's domains"),
                        "404": _error("No such site or config version"),
                        "409": _error("Receipt id used with other content"),
                        "413": _error("Body too large"),
                        "415": _error("Not JSON or text/plain"),
                        "422": _error("Choices do not fit the config version"),
                        "503": _error("Not stored this time; send it again"),
                    },
                }
            },
            "/v1/sites/{site_key}/consents/{consent_id}": {
                "get": {
                    "operationId": "consentHistory",
                    "parameters": [
                        site_key,
                        {
                            "name": "consent_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The visitor's receipts, oldest first",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ReceiptHistoryOut"}
                                }
                            },
                        },
                        "403": _error("Origin not among the site's domains"),
                        "404": _error("No such site or no receipts"),
                    },
                }
            },
            "/v1/sites/{site_key}/declaration": {
                "get": {
                    "operationId": "getDeclaration",
                    "parameters": [
                        site_key,
                        {
                            "name": "lang",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {"description": "Cookie declaration by purpose", "content": json_ok},
                        "404": _error("No such site, or nothing published"),
                    },
                }
            },
            "/v1/sites/{site_key}/checkpoints": {
                "get": {
                    "operationId": "getCheckpoint",
                    "parameters": [
                        site_key,
                        {"name": "size", "in": "query", "required": False,
                         "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": {"description": "The latest signed checkpoint of the site's"
                                               " receipt log, or the one of tree size `size`"
                                               " (docs/contracts.md)", "content": json_ok},
                        "400": _error("size is not a whole number"),
                        "404": _error("No such site, or no such checkpoint"),
                    },
                }
            },
            "/v1/keys": {
                "get": {
                    "operationId": "getKeys",
                    "responses": {
                        "200": {"description": "The checkpoint signing keys' public halves,"
                                               " current and retired", "content": json_ok},
                    },
                }
            },
            "/v1/logos/{file}": {
                "get": {
                    "operationId": "getLogo",
                    "parameters": [{
                        "name": "file", "in": "path", "required": True,
                        "schema": {"type": "string",
                                   "pattern": "^[0-9a-f]{64}\\.(png|jpg|webp)$"},
                    }],
                    "responses": {
                        "200": {"description": "A banner logo (its name is its SHA-256)",
                                "content": {t: {"schema": {"type": "string",
                                                           "format": "binary"}}
                                            for t in ("image/png", "image/jpeg",
                                                      "image/webp")}},
                        "304": {"description": "Not modified"},
                        "404": _error("No such logo"),
                    },
                }
            },
            **admin_paths(),
        },
        "components": {"schemas": {**components, **admin_schemas},
                       "securitySchemes": security},
    }
    for operations in document["paths"].values():
        for operation in operations.values():
            operation.setdefault("tags", ["public"])
    return document
