import scanner
from scanner import ScanReport

EXPECTED = [
    "BrowserError",
    "Category",
    "HeldResource",
    "InvalidTargetError",
    "ItemKind",
    "KnowledgeBaseLoadError",
    "LimitHit",
    "Page",
    "Party",
    "PassName",
    "PossibleViolation",
    "PrivateTargetError",
    "RefusedWrite",
    "ReportItem",
    "ScanError",
    "ScanLimits",
    "ScanOptions",
    "ScanProgress",
    "ScanReport",
    "SetBy",
    "TargetError",
    "TrackerRequest",
    "UnresolvableTargetError",
    "Violation",
    "check_public_target",
    "limit_report",
    "scan_site",
]


def test_all_is_pinned() -> None:
    assert scanner.__all__ == EXPECTED
    for name in EXPECTED:
        assert getattr(scanner, name) is not None


def test_report_serialises_to_the_contract() -> None:
    report = ScanReport.model_validate(
        {
            "start_url": "https://www.example.com/",
            "started_at": "2026-01-01T00:00:00Z",
            "finished_at": "2026-01-01T00:01:00Z",
            "pages": [{"url": "https://www.example.com/", "status": 200, "pass": "none"}],
            "items": [{
                "kind": "cookie", "name": "_ga", "domain": ".example.com", "path": "/",
                "party": "first", "vendor": "google-analytics", "category": "statistics",
                "passes": ["none"], "first_seen_url": "https://www.example.com/",
                "set_by": "script", "initiator": "https://www.googletagmanager.com/gtag/js",
                "expires_days": 400.0, "http_only": False, "secure": False, "same_site": "Lax",
            }],
            "requests": [{"host": "region1.google-analytics.com", "vendor": "google-analytics",
                          "category": "statistics", "passes": ["none"],
                          "example_url": "https://region1.google-analytics.com/g/collect"}],
            "violations": [{"pass": "none", "kind": "cookie", "name": "_ga",
                            "domain": ".example.com", "vendor": "google-analytics",
                            "category": "statistics", "reason": "statistics cookie set"}],
        }
    )
    data = report.model_dump(mode="json")
    assert set(data) >= {"start_url", "started_at", "finished_at", "pages", "items",
                         "requests", "violations"}
    assert set(data["pages"][0]) >= {"url", "status", "pass"}
    assert set(data["items"][0]) >= {
        "kind", "name", "domain", "path", "party", "vendor", "category", "passes",
        "first_seen_url", "set_by", "initiator", "expires_days", "http_only", "secure",
        "same_site",
    }
    assert set(data["requests"][0]) >= {"host", "vendor", "category", "passes", "example_url"}
    assert set(data["violations"][0]) >= {"pass", "kind", "name", "domain", "vendor",
                                          "category", "reason"}
    assert ScanReport.model_validate_json(report.model_dump_json()) == report
