"""Who is signed in: the session cookie and the sign-in rate limits.

The cookie holds only the session's id, signed with the server's secret (itsdangerous), so a
forged or altered cookie is refused before any lookup; the session itself is a row
(``cmp_server.services.staff``) that signing out, a password change or inactivity removes.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer
from limits import parse, storage, strategies
from starlette.requests import Request
from starlette.responses import Response

from cmp_server.services import staff
from cmp_server.settings import Settings

__all__ = ["LoginLimiter", "SessionCookies"]

SESSION_COOKIE = "cmp_admin"
LOGIN_COOKIE = "cmp_admin_login"  # the sign-in form's own CSRF token, before any session
SECOND_STEP_COOKIE = "cmp_admin_2fa"  # the password was right; the code is still to come
SECOND_STEP_SECONDS = 300


class SessionCookies:
    def __init__(self, settings: Settings) -> None:
        secret = settings.secret_key.get_secret_value()
        self._session = URLSafeSerializer(secret, salt="cmp-admin-session")
        self._login = URLSafeSerializer(secret, salt="cmp-admin-login")
        self._second = URLSafeTimedSerializer(secret, salt="cmp-admin-second-step")
        self._secure = settings.public_base_url.startswith("https://")
        self._idle = timedelta(minutes=settings.admin_session_idle_minutes)

    async def actor(self, request: Request) -> staff.Actor | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            session_id = self._session.loads(raw)
        except BadSignature:
            return None
        return await staff.session_for(str(session_id), self._idle)

    def sign_in(self, response: Response, session_id: str) -> None:
        self._set(response, SESSION_COOKIE, self._session.dumps(session_id))
        response.delete_cookie(LOGIN_COOKIE, path="/admin")

    def sign_out(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/admin")

    def begin_second_step(self, response: Response, staff_id: int, proof: str) -> None:
        """After the right password of an account with two-factor sign-in: which account, for
        ``SECOND_STEP_SECONDS`` (``two_factor.proof_of`` ties it to the password)."""
        self._set(response, SECOND_STEP_COOKIE, self._second.dumps([staff_id, proof]))

    def second_step(self, request: Request) -> tuple[int, str] | None:
        raw = request.cookies.get(SECOND_STEP_COOKIE)
        try:
            value = self._second.loads(raw, max_age=SECOND_STEP_SECONDS) if raw else None
        except BadSignature:  # SignatureExpired is one
            return None
        if (not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], int)
                or not isinstance(value[1], str)):
            return None
        return value[0], value[1]

    def end_second_step(self, response: Response) -> None:
        response.delete_cookie(SECOND_STEP_COOKIE, path="/admin")

    def login_token(self, request: Request) -> str:
        """The sign-in form's CSRF token (double submit): the one the browser's signed cookie
        holds, or a new one for ``keep_login_token`` to set."""
        return self.read_login_token(request) or secrets.token_urlsafe(24)

    def keep_login_token(self, response: Response, token: str) -> None:
        self._set(response, LOGIN_COOKIE, self._login.dumps(token))

    def read_login_token(self, request: Request) -> str | None:
        raw = request.cookies.get(LOGIN_COOKIE)
        try:
            return str(self._login.loads(raw)) if raw else None
        except BadSignature:
            return None

    def _set(self, response: Response, name: str, value: str) -> None:
        response.set_cookie(
            name, value, path="/admin", httponly=True, samesite="lax", secure=self._secure
        )


class LoginLimiter:
    """Failed sign-ins allowed per account and client address, per address, and per email
    that names no account (moving windows, this process). A few failures from one address
    hold that address back from that account only: staff signing in from elsewhere are not
    refused for someone else's guesses. An account's own failures from every address also
    count on its row (``staff.authenticate``: a slower cap that every process sees and an
    owner can lift); an email that names no account gets the same cap here, so the two read
    the same.

    Several server processes each keep their own count: the limit per process is what one
    attacker gets per process, still far from a guessing rate that matters against argon2."""

    PER_ACCOUNT_ADDRESS = parse("5 per 15 minutes")
    PER_ADDRESS = parse("20 per 15 minutes")
    PER_UNKNOWN_EMAIL = parse(
        f"{staff.LOCK_AFTER} per {int(staff.LOCK_WINDOW.total_seconds())} seconds"
    )

    def __init__(self) -> None:
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def allowed(self, email: str, address: str) -> bool:
        account = email.strip().lower()
        return (
            self._limiter.test(self.PER_ACCOUNT_ADDRESS, "pair", account, address)
            and self._limiter.test(self.PER_ADDRESS, "address", address)
            and self._limiter.test(self.PER_UNKNOWN_EMAIL, "email", account)
        )

    def failed(self, email: str, address: str, *, known: bool) -> None:
        """Count a failure from ``address`` against ``email`` (and, when it names no account,
        against the email itself, as a known account's row counts its own)."""
        account = email.strip().lower()
        self._limiter.hit(self.PER_ACCOUNT_ADDRESS, "pair", account, address)
        self._limiter.hit(self.PER_ADDRESS, "address", address)
        if not known:
            self._limiter.hit(self.PER_UNKNOWN_EMAIL, "email", account)
