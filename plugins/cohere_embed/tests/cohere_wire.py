"""A fake Cohere API v2: ``POST /v2/embed`` and ``POST /v2/rerank`` in Cohere's wire format.

``/v2/embed`` requires ``model`` and ``input_type``, takes at most 96 texts, honours
``output_dimension`` for Embed v4 and newer, and answers ``embeddings.float`` with
``meta.billed_units.input_tokens``. ``/v2/rerank`` answers ``results`` (index,
relevance_score in [0, 1], best first) with ``meta.billed_units.search_units``. Errors
are Cohere's ``{"id": ..., "message": ...}``.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
from llm_memory_testing.http import FakeServer, Recorded, Reply, count_tokens, vectors

#: model -> (default dimension, allowed output_dimension values or empty)
COHERE_EMBED_MODELS: dict[str, tuple[int, tuple[int, ...]]] = {
    "embed-v4.0": (1536, (256, 512, 1024, 1536)),
    "embed-english-v3.0": (1024, ()),
    "embed-multilingual-v3.0": (1024, ()),
    "embed-english-light-v3.0": (384, ()),
    "embed-multilingual-light-v3.0": (384, ()),
}
COHERE_RERANK_MODELS = ("rerank-v4.0-fast", "rerank-v4.0-pro", "rerank-v3.5")
MAX_TEXTS = 96
INPUT_TYPES = ("search_document", "search_query", "classification", "clustering", "image")

_MESSAGES = {
    400: "invalid request",
    401: "invalid api token",
    403: "Forbidden: this api key cannot access this resource",
    404: "model not found",
    429: "You are using a Trial key, which is limited to 100 API calls / minute. "
    "You can continue to use the Trial key for free or upgrade to a Production key.",
    500: "internal server error, this has been reported to our developers",
    503: "service unavailable",
}


class FakeCohere(FakeServer):
    """Cohere's embed and rerank endpoints. Point ``cohere.ClientV2(base_url=server.url)`` here."""

    def __init__(
        self,
        api_key: str | None = None,
        models: dict[str, tuple[int, tuple[int, ...]]] | None = None,
        rerank_models: tuple[str, ...] = COHERE_RERANK_MODELS,
    ) -> None:
        super().__init__(api_key)
        self.models = {**COHERE_EMBED_MODELS, **(models or {})}
        self.rerank_models = rerank_models

    def embed_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.received("/v2/embed") if isinstance(r.body, dict)]

    def error_body(self, status: int, message: str | None) -> Any:
        return {
            "id": str(uuid.uuid4()),
            "message": message or _MESSAGES.get(status, f"HTTP {status}"),
        }

    def handle(self, request: Recorded) -> Reply:
        if request.method == "POST" and request.path == "/v2/embed":
            return self._embed(request.body)
        if request.method == "POST" and request.path == "/v2/rerank":
            return self._rerank(request.body)
        return self.error(404, f"route not found: {request.method} {request.path}")

    def _embed(self, body: dict[str, Any]) -> Reply:
        model = body.get("model")
        if model not in self.models:
            return self.error(
                404, f"model '{model}' not found, make sure the model name is correct"
            )
        input_type = body.get("input_type")
        if input_type not in INPUT_TYPES:
            return self.error(
                400, f"invalid request: input_type must be one of {', '.join(INPUT_TYPES)}"
            )
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return self.error(400, "invalid request: texts must be a non-empty array of strings")
        if len(texts) > MAX_TEXTS:
            return self.error(
                400,
                f"invalid request: total number of texts must be at most {MAX_TEXTS} - received {len(texts)}",
            )
        types = body.get("embedding_types") or ["float"]
        if types != ["float"]:
            return self.error(400, f"this fake only serves float embeddings, not {types}")
        default, allowed = self.models[model]
        dimension = body.get("output_dimension") or default
        if "output_dimension" in body and dimension not in allowed:
            return self.error(
                400, f"invalid request: output_dimension {dimension} is not supported by {model}"
            )
        payload = {
            "id": str(uuid.uuid4()),
            "embeddings": {"float": vectors(texts, dimension)},
            "texts": texts,
            "meta": {
                "api_version": {"version": "2"},
                "billed_units": {"input_tokens": sum(count_tokens(t) for t in texts)},
            },
            "response_type": "embeddings_by_type",
        }
        return 200, {"num_tokens": str(payload["meta"]["billed_units"]["input_tokens"])}, payload

    def _rerank(self, body: dict[str, Any]) -> Reply:
        model = body.get("model")
        if model not in self.rerank_models:
            return self.error(
                404, f"model '{model}' not found, make sure the model name is correct"
            )
        query, documents = body.get("query"), body.get("documents")
        if not isinstance(query, str) or not query.strip():
            return self.error(400, "invalid request: query must be a non-empty string")
        if not isinstance(documents, list) or not documents:
            return self.error(400, "invalid request: documents must be a non-empty array")
        texts = [d if isinstance(d, str) else str(d.get("text", "")) for d in documents]
        q, *docs = np.asarray(vectors([query, *texts], 256))
        scores = np.clip(np.asarray(docs) @ q, 0.0, 1.0)
        order = sorted(range(len(texts)), key=lambda i: (-scores[i], i))
        top_n = body.get("top_n")
        if isinstance(top_n, int) and top_n > 0:
            order = order[:top_n]
        payload = {
            "id": str(uuid.uuid4()),
            "results": [{"index": i, "relevance_score": round(float(scores[i]), 6)} for i in order],
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
        }
        return 200, {}, payload
