"""A fake OpenAI embeddings API: ``POST /v1/embeddings`` in OpenAI's exact wire format.

Requests are validated as the real API does (2048 inputs at most, no empty strings,
``dimensions`` only for models that support shortening); vectors come back as JSON floats
or, with ``encoding_format: "base64"`` (what the ``openai`` client asks for by default),
as base64 of little-endian float32. Errors use OpenAI's ``{"error": {...}}`` shape.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from llm_memory_testing.http import FakeServer, Recorded, Reply, count_tokens, vectors

#: model -> (native dimension, supports ``dimensions``: True, False (400), None (ignored))
OPENAI_MODELS: dict[str, tuple[int, bool | None]] = {
    "text-embedding-3-small": (1536, True),
    "text-embedding-3-large": (3072, True),
    "text-embedding-ada-002": (1536, False),
}
MAX_INPUTS = 2048

_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided: sk-wrong. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    ),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for text-embedding-3-small in organization org-test on requests per min (RPM): "
        "Limit 3000, Used 3000, Requested 1. Please try again in 20ms.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


class FakeOpenAI(FakeServer):
    """OpenAI's embeddings endpoint. Point the client at ``server.url + "/v1"``.

    ``models`` adds or replaces models: name -> (dimension, supports ``dimensions``), where
    ``None`` means the model ignores ``dimensions``, as some local servers do.
    ``floats_only`` answers JSON floats whatever ``encoding_format`` asks, as some
    OpenAI-compatible servers do.
    """

    def __init__(
        self,
        api_key: str | None = None,
        models: dict[str, tuple[int, bool | None]] | None = None,
        floats_only: bool = False,
    ) -> None:
        super().__init__(api_key)
        self.models = {**OPENAI_MODELS, **(models or {})}
        self.floats_only = floats_only

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def inputs(self) -> list[list[str]]:
        """The ``input`` of each embeddings request received, in order."""
        return [
            r.body["input"] for r in self.received("/v1/embeddings") if isinstance(r.body, dict)
        ]

    def error_body(self, status: int, message: str | None) -> Any:
        kind, code, default = _ERRORS.get(status, ("server_error", None, f"HTTP {status}"))
        return {"error": {"message": message or default, "type": kind, "param": None, "code": code}}

    def handle(self, request: Recorded) -> Reply:
        if request.method != "POST" or request.path != "/v1/embeddings":
            return self.error(404, f"Invalid URL ({request.method} {request.path})")
        body = request.body
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self.error(400, "you must provide a model parameter")
        if model not in self.models:
            return self.error(
                404, f"The model `{model}` does not exist or you do not have access to it."
            )
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return self.error(400, "'$.input' is invalid. Please check the API reference.")
        if len(texts) > MAX_INPUTS:
            return self.error(
                400, f"'$.input' is invalid: array too long, at most {MAX_INPUTS} inputs."
            )
        if any(t == "" for t in texts):
            return self.error(400, "'$.input' is invalid: input cannot be an empty string.")
        native, shortens = self.models[model]
        dimension = body.get("dimensions", native) if shortens is not None else native
        if "dimensions" in body and shortens is not None:
            if not shortens:
                return self.error(
                    400, f"This model does not support specifying dimensions. ({model})"
                )
            if not isinstance(dimension, int) or not 1 <= dimension <= native:
                return self.error(400, f"Invalid value for 'dimensions': must be in [1, {native}].")
        fmt = body.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            return self.error(400, f"Invalid value for 'encoding_format': {fmt!r}.")
        if self.floats_only:
            fmt = "float"
        data = [
            {"object": "embedding", "index": i, "embedding": _encode(vector, fmt)}
            for i, vector in enumerate(vectors(texts, dimension))
        ]
        tokens = sum(count_tokens(t) for t in texts)
        payload = {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return (
            200,
            {"openai-processing-ms": "3", "x-request-id": f"req_{len(self.requests)}"},
            payload,
        )


def _encode(vector: list[float], fmt: str) -> Any:
    if fmt == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
    return [float(np.float32(v)) for v in vector]
