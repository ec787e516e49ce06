"""The Cohere client (``cohere.ClientV2``) and what its failures mean, shared by embed and rerank."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import cohere
import httpx
from cohere.core.api_error import ApiError
from llm_memory.errors import ConfigError
from llm_memory.retry import (
    RetryPolicy,
    Transient,
    connection_refused,
    one_line,
    parse_retry_after,
    refused,
    with_retries,
)

T = TypeVar("T")
DEFAULT_BASE_URL = "https://api.cohere.com"
_RETRY_STATUSES = {408, 429, 499}
_AUTH_STATUSES = {401, 403, 498}


class CohereAPI:
    """One ``ClientV2`` with our retry loop (the SDK's retries are off) and one-line errors."""

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not api_key:
            if not base_url:
                raise ConfigError("Cohere needs an API key: set COHERE_API_KEY (or CO_API_KEY).")
            api_key = "no-key-required"  # a private deployment may not check it
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.retry = retry or RetryPolicy(env_prefix="COHERE_")
        self.via = "Cohere" if self.base_url == DEFAULT_BASE_URL else self.base_url
        self.where = (
            "Cohere" if self.base_url == DEFAULT_BASE_URL else f"The Cohere API at {self.base_url}"
        )
        self.client = cohere.ClientV2(
            api_key=api_key,
            base_url=self.base_url,
            timeout=timeout,
            max_retries=0,
            client_name="llm-memory",
            log_warning_experimental_features=False,
        )

    def call(self, fn: Callable[[], T], what: str, model_setting: str, error: type[Exception]) -> T:
        """Run one API call with retries; failures become ``error`` with a one-line message."""

        what = f"{what} via {self.via}"

        def classify(exc: Exception) -> Transient | None:
            return self._classify(exc, what, model_setting, error)

        return with_retries(fn, classify, self.retry, what, error)

    def _classify(
        self, exc: Exception, what: str, model_setting: str, error: type[Exception]
    ) -> Transient | None:
        if isinstance(exc, ApiError):
            status, message = exc.status_code or 0, _message(exc.body)
            if status in _RETRY_STATUSES or status >= 500:
                return Transient(f"HTTP {status}: {message}", parse_retry_after(exc.headers))
            if status in _AUTH_STATUSES:
                raise error(
                    f"{self.where} rejected the API key (HTTP {status}: {message}). "
                    "Set COHERE_API_KEY (or CO_API_KEY) to a valid key."
                ) from exc
            if status == 404:
                raise error(
                    f"{self.where} has no such model (HTTP 404: {message}). Set {model_setting} to an "
                    "available model, and check COHERE_BASE_URL."
                ) from exc
            if 200 <= status < 300:
                raise error(f"{self.where} sent an unusable response: {message}") from exc
            raise error(f"{self.where} refused the request (HTTP {status}: {message}).") from exc
        if isinstance(exc, httpx.TimeoutException):
            return Transient(f"no answer from {self.base_url} in time")
        if isinstance(exc, httpx.TransportError):
            if connection_refused(exc):  # nothing listens there: retrying cannot help
                raise error(refused(what, self.base_url, "COHERE_BASE_URL")) from exc
            return Transient(
                f"cannot reach {self.base_url} ({one_line(exc)}; check COHERE_BASE_URL)"
            )
        return None

    def close(self) -> None:
        self.client._client_wrapper.httpx_client.httpx_client.close()


def _message(body: Any) -> str:
    if isinstance(body, dict) and body.get("message"):
        return one_line(body["message"])
    return one_line(body) if body else "no details"
