"""What notification mails say, in English, Swedish and Danish: a subject and one sentence per
event (``str.format`` fields from the event's data), and the frame around them."""

from __future__ import annotations

LANGUAGES = ("en", "sv", "da")

EVENTS: dict[str, dict[str, tuple[str, str]]] = {
    "scan.findings": {
        "en": ("New findings on {site_name}",
               "The scan of {site_name} found {new_items} new items, {new_violations} new "
               "violations and {new_to_review} new items to review."),
        "sv": ("Nya fynd på {site_name}",
               "Genomsökningen av {site_name} hittade {new_items} nya objekt, {new_violations} "
               "nya överträdelser och {new_to_review} nya objekt att granska."),
        "da": ("Nye fund på {site_name}",
               "Scanningen af {site_name} fandt {new_items} nye elementer, {new_violations} nye "
               "overtrædelser og {new_to_review} nye elementer til gennemgang."),
    },
    "scan.failed": {
        "en": ("A scheduled scan of {site_name} failed",
               "A scheduled scan of {site_name} failed: {error}"),
        "sv": ("En schemalagd genomsökning av {site_name} misslyckades",
               "En schemalagd genomsökning av {site_name} misslyckades: {error}"),
        "da": ("En planlagt scanning af {site_name} mislykkedes",
               "En planlagt scanning af {site_name} mislykkedes: {error}"),
    },
    "version.published": {
        "en": ("Version {version} of {site_name} published",
               "Version {version} of the banner of {site_name} was published by "
               "{published_by}."),
        "sv": ("Version {version} av {site_name} publicerad",
               "Version {version} av bannern för {site_name} publicerades av {published_by}."),
        "da": ("Version {version} af {site_name} udgivet",
               "Version {version} af banneret for {site_name} blev udgivet af {published_by}."),
    },
    "verification.failed": {
        "en": ("The receipts of {site_name} did not verify",
               "Verifying the receipts of {site_name} found {problems} problems in {checked} "
               "receipts."),
        "sv": ("Kvittona för {site_name} kunde inte verifieras",
               "Kontrollen av samtyckeskvittona för {site_name} hittade {problems} fel bland "
               "{checked} kvitton."),
        "da": ("Kvitteringerne for {site_name} kunne ikke verificeres",
               "Kontrollen af samtykkekvitteringerne for {site_name} fandt {problems} fejl "
               "blandt {checked} kvitteringer."),
    },
    "retention.purged": {
        "en": ("Old receipts of {site_name} deleted",
               "The retention purge deleted {deleted} receipts of {site_name} recorded before "
               "{cutoff}."),
        "sv": ("Gamla kvitton för {site_name} raderade",
               "Gallringen raderade {deleted} kvitton för {site_name} som registrerats före "
               "{cutoff}."),
        "da": ("Gamle kvitteringer for {site_name} slettet",
               "Sletningen fjernede {deleted} kvitteringer for {site_name}, der blev registreret "
               "før {cutoff}."),
    },
    "account.locked": {
        "en": ("Account {email} locked",
               "The account {email} was locked after {failures} wrong passwords. It opens "
               "again at {until} UTC, or an owner unlocks it under Staff."),
        "sv": ("Kontot {email} har låsts",
               "Kontot {email} låstes efter {failures} felaktiga lösenord. Det öppnas igen "
               "{until} UTC, eller så låser en ägare upp det under Personal."),
        "da": ("Kontoen {email} er låst",
               "Kontoen {email} blev låst efter {failures} forkerte adgangskoder. Den åbnes "
               "igen {until} UTC, eller en ejer låser den op under Medarbejdere."),
    },
    "report.monthly": {
        "en": ("Compliance report of {site_name} for {month}",
               "The compliance report of {site_name} for {month} is attached as a PDF: consent "
               "rates, the cookie inventory, the month's scans, published versions and the "
               "proof's verification."),
        "sv": ("Efterlevnadsrapport för {site_name}, {month}",
               "Efterlevnadsrapporten för {site_name} för {month} finns bifogad som PDF: "
               "samtyckesgrader, kakinventeringen, månadens genomsökningar, publicerade "
               "versioner och verifieringen av bevisen."),
        "da": ("Compliancerapport for {site_name}, {month}",
               "Compliancerapporten for {site_name} for {month} er vedhæftet som PDF: "
               "samtykkerater, cookieoversigten, månedens scanninger, udgivne versioner og "
               "verificeringen af beviserne."),
    },
    "webhook.disabled": {
        "en": ("A webhook of {site_name} was turned off",
               "The webhook endpoint {url} of {site_name} was turned off after a day of "
               "failed deliveries. Fix the receiver, then turn it on again."),
        "sv": ("En webhook för {site_name} har stängts av",
               "Webhook-mottagaren {url} för {site_name} stängdes av efter ett dygn av "
               "misslyckade leveranser. Åtgärda mottagaren och slå sedan på den igen."),
        "da": ("En webhook for {site_name} er slået fra",
               "Webhook-modtageren {url} for {site_name} blev slået fra efter et døgn med "
               "mislykkede leveringer. Ret modtageren, og slå den derefter til igen."),
    },
}

FRAME: dict[str, dict[str, str]] = {
    "en": {
        "open": "Open in the admin",
        "digest": "Daily summary: {n} events",
        "why_site": "You get this mail because you chose it under Notifications for "
                    "{site_name}.",
        "why_owner": "You get this mail because you are an owner of this consent platform.",
    },
    "sv": {
        "open": "Öppna i administrationen",
        "digest": "Daglig sammanfattning: {n} händelser",
        "why_site": "Du får det här mejlet eftersom du har valt det under Aviseringar för "
                    "{site_name}.",
        "why_owner": "Du får det här mejlet eftersom du är ägare av den här "
                     "samtyckesplattformen.",
    },
    "da": {
        "open": "Åbn i administrationen",
        "digest": "Daglig oversigt: {n} hændelser",
        "why_site": "Du får denne mail, fordi du har valgt den under Notifikationer for "
                    "{site_name}.",
        "why_owner": "Du får denne mail, fordi du er ejer af denne samtykkeplatform.",
    },
}
