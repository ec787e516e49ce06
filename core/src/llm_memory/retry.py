"""Retries with exponential backoff that honour Retry-After, for providers that call remote APIs.

Vendor SDKs retry on their own too; a provider using this turns theirs off (`max_retries=0`)
so one policy, with one set of settings, decides."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from llm_memory.errors import one_line

__all__ = [
    "RetryPolicy",
    "Transient",
    "connection_refused",
    "one_line",
    "parse_retry_after",
    "refused",
    "with_retries",
]

T = TypeVar("T")


class Transient(Exception):
    """A failure worth retrying: rate limit, server error, timeout, lost connection."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` retries after the first attempt; waits double from ``backoff``,
    jittered, capped at ``max_wait``; a server's Retry-After is a minimum wait.

    ``retries_setting`` names the setting that raises ``max_retries`` in the final error
    (default ``<env_prefix>MAX_RETRIES``)."""

    max_retries: int = 5
    backoff: float = 0.5
    max_wait: float = 60.0
    env_prefix: str = ""
    retries_setting: str | None = None

    @property
    def setting(self) -> str:
        return self.retries_setting or f"{self.env_prefix}MAX_RETRIES"

    @classmethod
    def from_options(cls, options: Any, env_prefix: str) -> RetryPolicy:
        """The policy a provider's options set (``max_retries``, ``retry_backoff``,
        ``max_retry_wait``), its messages naming ``env_prefix`` settings."""
        return cls(options.max_retries, options.retry_backoff, options.max_retry_wait, env_prefix)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        wait = min(self.max_wait, self.backoff * 2**attempt) * (0.5 + random.random() / 2)
        return wait if retry_after is None else max(wait, retry_after)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    lower = {k.lower(): v for k, v in (headers or {}).items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = lower.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is not None:
                return max(0.0, email.utils.mktime_tz(parsed) - time.time())
    return None


def connection_refused(exc: BaseException) -> bool:
    """Whether ``exc``, or what caused it, is a refused connection: nothing listens at that
    address, so retrying cannot help (unlike a timeout or a dropped connection)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ConnectionRefusedError):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def refused(what: str, url: str, setting: str) -> str:
    """The one line for a refused connection, naming the setting that holds the address."""
    return f"{what} failed: nothing is listening at {url} (connection refused). Check {setting}."


def with_retries(
    call: Callable[[], T],
    classify: Callable[[Exception], Transient | None],
    policy: RetryPolicy,
    what: str,
    error: type[Exception],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``; on a :class:`Transient` failure (per ``classify``) wait and retry.

    ``classify`` raises the final error itself for permanent failures, returns ``None``
    for exceptions it does not know (they propagate unchanged).
    """
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            transient = classify(exc)
            if transient is None:
                raise
            failure = exc
        if attempt >= policy.max_retries:
            raise error(
                f"{what} failed after {attempt + 1} attempts ({transient.reason}). Try again later, "
                f"or allow more retries with {policy.setting}."
            ) from failure
        wait = policy.delay(attempt, transient.retry_after)
        if transient.retry_after is not None and transient.retry_after > policy.max_wait:
            raise error(
                f"{what} failed ({transient.reason}): the server asks to wait {transient.retry_after:.0f} s, "
                f"longer than {policy.env_prefix}MAX_RETRY_WAIT={policy.max_wait:g}. Try again later."
            ) from failure
        sleep(wait)
        attempt += 1
