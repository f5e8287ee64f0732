"""Notification mail: composed in the recipient's language (English, Swedish or Danish), a
plain-text and an HTML part with links into the admin, sent through the operator's SMTP server
(``CMP_SMTP_*``) with ``aiosmtplib``. Composing is pure; sending is one call."""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html import escape
from typing import Any

import aiosmtplib

from .mail_texts import EVENTS, FRAME, LANGUAGES

__all__ = ["MailConfig", "Notice", "compose", "send"]


@dataclass(frozen=True)
class MailConfig:
    host: str
    port: int
    security: str  # starttls | tls | none
    user: str | None
    password: str | None
    sender: str
    timeout: float
    base_url: str  # links into the admin start here


@dataclass(frozen=True)
class Notice:
    """One event as a mail tells it."""

    type: str
    data: dict[str, Any]
    owner_mail: bool = False  # sent to owners as owners, not by a subscription


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _fill(template: str, data: dict[str, Any]) -> str:
    """``template`` with the event's data; a field the data lacks reads "?" (an event kept
    before a field existed must still be told)."""
    values = _Blank({k: v for k, v in data.items() if isinstance(v, str | int | float)})
    return string.Formatter().vformat(template, (), values)


def _texts(notice: Notice, language: str) -> tuple[str, str]:
    texts = EVENTS.get(notice.type, {})
    subject, line = texts.get(language) or texts.get("en") or (notice.type, notice.type)
    return _fill(subject, notice.data), _fill(line, notice.data)


def compose(
    notices: Sequence[Notice], to: str, language: str, config: MailConfig,
    attachments: Sequence[tuple[str, bytes]] = (),
) -> EmailMessage:
    """One mail: a single event, or a digest of several (oldest first); ``attachments``:
    PDF files by name."""
    language = language if language in LANGUAGES else "en"
    frame = FRAME[language]
    told = [(*_texts(n, language), n) for n in notices]
    if len(told) == 1:
        subject = told[0][0]
    else:
        subject = frame["digest"].format(n=len(told))
    text_parts: list[str] = []
    html_parts: list[str] = []
    for _, line, notice in told:
        link = _link(notice, config.base_url)
        text_parts.append(line + (f"\n{frame['open']}: {link}" if link else ""))
        html_parts.append(
            f"<p>{escape(line)}</p>"
            + (f'<p><a href="{escape(link, quote=True)}">{escape(frame["open"])}</a></p>'
               if link else "")
        )
    first = notices[0]
    why = frame["why_owner"] if first.owner_mail else _fill(frame["why_site"], first.data)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = config.sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message.set_content("\n\n".join(text_parts) + f"\n\n-- \n{why}\n")
    message.add_alternative(
        f'<!doctype html><html lang="{language}"><body>'
        + "".join(html_parts)
        + f'<hr><p style="color:#555;font-size:90%">{escape(why)}</p></body></html>',
        subtype="html",
    )
    for name, data in attachments:
        message.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return message


def _link(notice: Notice, base_url: str) -> str:
    path = notice.data.get("admin_path")
    if not isinstance(path, str) or not path.startswith("/admin/"):
        return ""
    return base_url.rstrip("/") + path


async def send(message: EmailMessage, config: MailConfig) -> str:
    """Send ``message``; the server's answer. Raises ``aiosmtplib.SMTPException`` or
    ``OSError`` when the mail was not taken."""
    _, answer = await aiosmtplib.send(
        message,
        hostname=config.host,
        port=config.port,
        username=config.user,
        password=config.password,
        use_tls=config.security == "tls",
        start_tls=config.security == "starttls",
        timeout=config.timeout,
    )
    return answer
