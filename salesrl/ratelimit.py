"""Fixed-window rate limits in the shared cache (Redis), for ingest and sign-in.

A fixed window (one counter per key and window, INCR + expiry) costs one round trip per request,
where DRF's sliding-window throttle rewrites a list of timestamps per request: at the thousands of
turns a minute a team's dialer posts, that list is the expensive part. The price is that up to twice
the rate can pass across a window boundary, which is fine for a guard against runaway clients.

Limits fail open: when the cache is unreachable the request goes through (and a warning is logged).
Turning away live turns because Redis blinked would lose data; the limits exist to stop abuse.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from functools import lru_cache

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


@dataclass(frozen=True)
class Rate:
    limit: int
    period_s: int

    @classmethod
    def parse(cls, text: str, *, setting: str = "rate") -> Rate | None:
        """'600/minute', '20/s', '100/15min'; 'off' (or empty) means no limit."""
        value = text.strip().lower()
        if value in {"", "off", "none", "0"}:
            return None
        match = re.fullmatch(r"(\d+)\s*/\s*(\d*)\s*([a-z]+)", value)
        if not match or match.group(3) not in _PERIODS or int(match.group(1)) < 1:
            raise ImproperlyConfigured(
                f"{setting} must look like '600/minute', '20/s' or 'off', got {text!r}"
            )
        multiple = int(match.group(2) or 1)
        return cls(limit=int(match.group(1)), period_s=multiple * _PERIODS[match.group(3)])


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: int
    retry_after_s: int


def _window(rate: Rate) -> tuple[int, int]:
    """(the current window's number, seconds until the next one starts)."""
    now = time.time()
    window = int(now // rate.period_s)
    return window, int((window + 1) * rate.period_s - now) + 1


def hit(scope: str, key: str, rate: Rate | None, *, cost: int = 1) -> Verdict:
    """Count a request of `key` in `scope` as `cost` requests; whether it is within `rate`.

    A refused request of cost 1 still counts (hammering keeps the window full); a refused batch (cost
    above 1) gives its count back, so a batch too large for what is left of the window does not use it
    up for the smaller ones that would fit."""
    if rate is None:
        return Verdict(True, 0, 0)
    window, retry = _window(rate)
    cache_key = f"ratelimit:{scope}:{key}:{window}"
    try:
        # add() sets the expiry once; incr() is atomic in Redis, so concurrent requests never lose a count.
        cache.add(cache_key, 0, timeout=rate.period_s + 1)
        count = cache.incr(cache_key, cost)
        if count > rate.limit and cost > 1:
            cache.decr(cache_key, cost)
    except Exception as exc:  # cache down: let the request through
        logger.warning("rate limit %s not checked (cache unavailable: %s)", scope, exc)
        return Verdict(True, 0, 0)
    return Verdict(count <= rate.limit, count, retry)


def peek(scope: str, key: str, rate: Rate | None) -> Verdict:
    """The current count without adding to it (a sign-in lock-out is checked before the attempt)."""
    if rate is None:
        return Verdict(True, 0, 0)
    window, retry = _window(rate)
    try:
        count = int(cache.get(f"ratelimit:{scope}:{key}:{window}", 0))
    except Exception as exc:
        logger.warning("rate limit %s not checked (cache unavailable: %s)", scope, exc)
        return Verdict(True, 0, 0)
    return Verdict(count < rate.limit, count, retry)


@lru_cache(maxsize=32)
def _parsed(text: str, setting: str) -> Rate | None:
    return Rate.parse(text, setting=setting)


def configured(setting: str) -> Rate | None:
    """The rate a setting names, parsed once per value (read on every request it guards; reading the
    setting each time keeps override_settings and a changed environment honest)."""
    from django.conf import settings

    return _parsed(getattr(settings, setting), setting)


class IngestThrottle:
    """DRF throttle for the write API: per API token (an integration), else per user.

    The rate is SALESRL_RATE_LIMIT_INGEST; over it the API answers 429 with Retry-After and the
    usual error body (code "throttled")."""

    def __init__(self) -> None:
        self.verdict = Verdict(True, 0, 0)

    def allow_request(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        auth = getattr(request, "auth", None)
        token_id = getattr(auth, "pk", None)
        key = f"token-{token_id}" if token_id is not None else f"user-{request.user.pk}"
        self.verdict = hit("ingest", key, configured("SALESRL_RATE_LIMIT_INGEST"), cost=self.cost(request))
        return self.verdict.allowed

    def cost(self, request) -> int:  # type: ignore[no-untyped-def]
        return 1

    def wait(self) -> float:
        return float(self.verdict.retry_after_s)


class BatchIngestThrottle(IngestThrottle):
    """The ingest limit for the batch API: each turn of a batch counts as one request would."""

    def cost(self, request) -> int:  # type: ignore[no-untyped-def]
        data = request.data  # a malformed body raises its 400 here, before anything is counted
        turns = data.get("turns") if isinstance(data, dict) else None
        return max(1, len(turns)) if isinstance(turns, list) else 1
