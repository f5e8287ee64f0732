"""The texts and options a new site starts with, in English, Swedish and Danish (our own words)."""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_OPTIONS", "DEFAULT_PURPOSES", "DEFAULT_TEXTS", "LANGUAGES"]

LANGUAGES = ("en", "sv", "da")

DEFAULT_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your choice about cookies",
        "description": (
            "We use cookies and similar technologies. Some are needed for the site to work. "
            "With your consent we also use them to remember your settings, to measure how the "
            "site is used and for marketing. You can change your mind at any time."
        ),
        "accept_all": "Accept all",
        "reject_all": "Reject all",
        "customize": "Customize",
        "save": "Save my choices",
        "close": "Close",
        "preferences_title": "Cookie settings",
        "policy_link": "Cookie policy",
        "receipts_link": "My consent receipts",
        "consent_id": "Your consent ID",
        "current_choice": "Your current choice",
        "gpc_notice": (
            "Your browser sends a Global Privacy Control signal, so marketing is off unless you "
            "turn it on."
        ),
        "settings_button": "Cookie settings",
        "placeholder": "This content is blocked until you allow {purpose}.",
        "placeholder_button": "Allow {purpose}",
        "always_on": "Always on",
        "vendors_heading": "Vendors",
        "cookies_heading": "Cookies and storage",
        "duration_session": "Session",
        "days": "days",
        "col_name": "Name",
        "col_vendor": "Vendor",
        "col_duration": "Duration",
        "col_party": "Party",
        "col_description": "Description",
        "first_party": "First party",
        "third_party": "Third party",
        "transfer_notice": "Data may be transferred outside the EU/EEA",
        "col_transfer": "Transfer outside the EU/EEA",
        "transfer_yes": "Yes",
        "transfer_no": "No",
        "transfer_unknown": "Not known",
        "transfer_basis": "basis",
        "duration_persistent": "Until deleted",
    },
    "sv": {
        "title": "Ditt val om kakor",
        "description": (
            "Vi använder kakor (cookies) och liknande tekniker. Vissa behövs för att webbplatsen "
            "ska fungera. Med ditt samtycke använder vi dem också för att komma ihåg dina "
            "inställningar, mäta hur webbplatsen används och för marknadsföring. Du kan ändra "
            "dig när som helst."
        ),
        "accept_all": "Godkänn alla",
        "reject_all": "Avvisa alla",
        "customize": "Anpassa",
        "save": "Spara mina val",
        "close": "Stäng",
        "preferences_title": "Inställningar för kakor",
        "policy_link": "Kakpolicy",
        "receipts_link": "Mina samtyckeskvitton",
        "consent_id": "Ditt samtyckes-ID",
        "current_choice": "Ditt nuvarande val",
        "gpc_notice": (
            "Din webbläsare skickar en Global Privacy Control-signal, därför är marknadsföring "
            "avstängd om du inte själv slår på den."
        ),
        "settings_button": "Inställningar för kakor",
        "placeholder": "Innehållet är blockerat tills du tillåter {purpose}.",
        "placeholder_button": "Tillåt {purpose}",
        "always_on": "Alltid på",
        "vendors_heading": "Leverantörer",
        "cookies_heading": "Kakor och lagring",
        "duration_session": "Session",
        "days": "dagar",
        "col_name": "Namn",
        "col_vendor": "Leverantör",
        "col_duration": "Lagringstid",
        "col_party": "Part",
        "col_description": "Beskrivning",
        "first_party": "Förstapart",
        "third_party": "Tredjepart",
        "transfer_notice": "Uppgifter kan föras över till länder utanför EU/EES",
        "col_transfer": "Överföring utanför EU/EES",
        "transfer_yes": "Ja",
        "transfer_no": "Nej",
        "transfer_unknown": "Okänt",
        "transfer_basis": "grund",
        "duration_persistent": "Tills den tas bort",
    },
    "da": {
        "title": "Dit valg om cookies",
        "description": (
            "Vi bruger cookies og lignende teknologier. Nogle er nødvendige for, at hjemmesiden "
            "virker. Med dit samtykke bruger vi dem også til at huske dine indstillinger, måle "
            "hvordan hjemmesiden bruges og til markedsføring. Du kan altid ændre dit valg."
        ),
        "accept_all": "Accepter alle",
        "reject_all": "Afvis alle",
        "customize": "Tilpas",
        "save": "Gem mine valg",
        "close": "Luk",
        "preferences_title": "Cookie-indstillinger",
        "policy_link": "Cookiepolitik",
        "receipts_link": "Mine samtykkekvitteringer",
        "consent_id": "Dit samtykke-ID",
        "current_choice": "Dit nuværende valg",
        "gpc_notice": (
            "Din browser sender et Global Privacy Control-signal, så markedsføring er slået fra, "
            "medmindre du selv slår det til."
        ),
        "settings_button": "Cookie-indstillinger",
        "placeholder": "Indholdet er blokeret, indtil du tillader {purpose}.",
        "placeholder_button": "Tillad {purpose}",
        "always_on": "Altid til",
        "vendors_heading": "Leverandører",
        "cookies_heading": "Cookies og lagring",
        "duration_session": "Session",
        "days": "dage",
        "col_name": "Navn",
        "col_vendor": "Leverandør",
        "col_duration": "Varighed",
        "col_party": "Part",
        "col_description": "Beskrivelse",
        "first_party": "Førstepart",
        "third_party": "Tredjepart",
        "transfer_notice": "Data kan blive overført til lande uden for EU/EØS",
        "col_transfer": "Overførsel uden for EU/EØS",
        "transfer_yes": "Ja",
        "transfer_no": "Nej",
        "transfer_unknown": "Ukendt",
        "transfer_basis": "grundlag",
        "duration_persistent": "Indtil den slettes",
    },
}

# (key, required, name per language, description per language)
DEFAULT_PURPOSES: tuple[tuple[str, bool, dict[str, str], dict[str, str]], ...] = (
    (
        "necessary",
        True,
        {"en": "Necessary", "sv": "Nödvändiga", "da": "Nødvendige"},
        {
            "en": "Needed for the site to work, for example to keep you logged in, keep the site "
            "secure and remember this choice. They cannot be turned off.",
            "sv": "Behövs för att webbplatsen ska fungera, till exempel för inloggning, säkerhet "
            "och för att komma ihåg det här valet. De kan inte stängas av.",
            "da": "Nødvendige for at hjemmesiden virker, for eksempel til login, sikkerhed og for "
            "at huske dette valg. De kan ikke slås fra.",
        },
    ),
    (
        "preferences",
        False,
        {"en": "Preferences", "sv": "Inställningar", "da": "Præferencer"},
        {
            "en": "Remember your settings, such as language or region, and embedded features "
            "like chat.",
            "sv": "Kommer ihåg dina inställningar, till exempel språk eller region, och "
            "inbäddade funktioner som chatt.",
            "da": "Husker dine indstillinger, for eksempel sprog eller region, og indlejrede "
            "funktioner som chat.",
        },
    ),
    (
        "statistics",
        False,
        {"en": "Statistics", "sv": "Statistik", "da": "Statistik"},
        {
            "en": "Help us understand how the site is used, so that we can improve it.",
            "sv": "Hjälper oss att förstå hur webbplatsen används så att vi kan förbättra den.",
            "da": "Hjælper os med at forstå, hvordan hjemmesiden bruges, så vi kan forbedre den.",
        },
    ),
    (
        "marketing",
        False,
        {"en": "Marketing", "sv": "Marknadsföring", "da": "Markedsføring"},
        {
            "en": "Used by us and our partners to show relevant advertising and measure it, "
            "also on other sites.",
            "sv": "Används av oss och våra partner för att visa relevant reklam och mäta den, "
            "även på andra webbplatser.",
            "da": "Bruges af os og vores partnere til at vise relevant annoncering og måle den, "
            "også på andre hjemmesider.",
        },
    ),
)

DEFAULT_OPTIONS: dict[str, Any] = {
    "cookie_name": "cmp_consent",
    "floating_button": True,
    "reload_on_withdraw": True,
    "gpc": {"honour": True, "purposes": ["marketing"]},
    "consent_mode": {
        "enabled": True,
        "map": {
            "ad_storage": ["marketing"],
            "ad_user_data": ["marketing"],
            "ad_personalization": ["marketing"],
            "analytics_storage": ["statistics"],
            "functionality_storage": ["preferences"],
            "personalization_storage": ["preferences"],
            "security_storage": [],
        },
        "wait_for_update": 500,
        "region": [],
        "ads_data_redaction": True,
        "url_passthrough": False,
    },
}
