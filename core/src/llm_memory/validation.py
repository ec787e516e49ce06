"""The shape of ids and the limits of what one memory may hold, checked at every entry point.

- A **user id** is 1-128 characters of any script, without control or format characters
  (Unicode categories Cc, Cf, Cs, Co, Zl, Zp: NUL, zero-width joiners, lone surrogates),
  and without leading or trailing whitespace. It is never normalised: ``alice``, ``Alice``
  and fullwidth ``alice`` (U+FF41...) are three users.
- A **memory id** is what the engine generates (32 hex digits) or, for imported memories,
  1-128 characters of ``A-Z a-z 0-9 . _ : -`` starting with a letter, digit or ``_``.
- A **session id** follows the user id rules, up to 256 characters.
- **Text** (content, query, metadata) is valid Unicode without NUL: no lone surrogates and
  no ``\\x00`` (Postgres cannot store it, C-string layers cut the text at it).
- **Metadata** holds at most ``MAX_METADATA_KEYS`` keys and ``MAX_METADATA_BYTES`` of JSON;
  numbers are finite.
- **Times** are no more than a day ahead of now (a future ``created_at`` would outrank
  everything on recency).

Stores still treat every value as data (their contract tests odd ids); these checks make
entry points refuse, in one line, what no caller should send.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from llm_memory.errors import ValidationFailed

USER_ID_MAX = 128
MEMORY_ID_MAX = 128
SESSION_ID_MAX = 256
#: How far ahead of now a timestamp may be (clock skew), and no further.
FUTURE_SLACK = timedelta(days=1)
_FORBIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
#: A memory id, as a regular expression (the HTTP API's schema declares it).
MEMORY_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._:-]{0,127}$"
_MEMORY_ID = re.compile(MEMORY_ID_PATTERN.strip("^$"))


def text_problem(value: str) -> str | None:
    """Why ``value`` is not storable text (a lone surrogate cannot be encoded, a NUL is
    refused), or None."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"holds a lone surrogate at position {exc.start}"
    nul = value.find("\x00")
    if nul >= 0:
        return f"holds a NUL character (\\x00) at position {nul}; remove it"
    return None


def text(value: Any, field: str) -> str:
    """``value`` if it is storable text; else :class:`ValidationFailed` naming ``field``."""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be a string, not {type(value).__name__}.")
    problem = text_problem(value)
    if problem:
        raise ValidationFailed(f"{field} {problem}.")
    return value


def name_problem(value: Any, most: int) -> str | None:
    """Why ``value`` is not a user or session id, or None."""
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if not 1 <= len(value) <= most:
        return f"must be 1-{most} characters, got {len(value)}"
    if value != value.strip():
        return "must not start or end with whitespace"
    for n, char in enumerate(value):
        if unicodedata.category(char) in _FORBIDDEN:
            return f"holds a control or format character (U+{ord(char):04X}) at position {n}"
    return None


def user_id(value: Any, field: str = "user_id") -> str:
    """``value`` if it is a valid user id; else :class:`ValidationFailed` naming the rule."""
    problem = name_problem(value, USER_ID_MAX)
    if problem:
        raise ValidationFailed(f"{field} {problem}: use 1-{USER_ID_MAX} printable characters.")
    return value


def owner(value: Any) -> str:
    """The user id an operation is scoped by: a missing one is refused as required, then
    :func:`user_id`'s rules apply."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("user_id is required: every memory belongs to one user.")
    return user_id(value)


def is_memory_id(value: Any) -> bool:
    return isinstance(value, str) and _MEMORY_ID.fullmatch(value) is not None


def memory_id(value: Any, field: str = "memory id") -> str:
    """``value`` if it is a valid memory id; else :class:`ValidationFailed`."""
    if not is_memory_id(value):
        shown = repr(value)[:60]
        raise ValidationFailed(
            f"Invalid {field} {shown}: use 1-{MEMORY_ID_MAX} of letters, digits, '.', '_', ':' "
            "and '-', not starting with '.', ':' or '-' (ids the engine generates are 32 hex digits)."
        )
    return value


def metadata_problem(value: Mapping[str, Any]) -> str | None:
    """Why metadata's keys or values are not storable (limits aside), or None."""
    for key, item in value.items():
        if not key or len(key) > 128 or key.startswith("_") or text_problem(key):
            return f"metadata key {key!r} must be 1-128 characters, not starting with '_'"
        if isinstance(item, float) and not math.isfinite(item):
            return f"metadata value of {key!r} must be a finite number, not {item}"
        if isinstance(item, str) and text_problem(item):
            return f"metadata value of {key!r} {text_problem(item)}"
    return None


def metadata_limits(value: Mapping[str, Any], max_keys: int, max_bytes: int) -> None:
    """Refuse metadata with more than ``max_keys`` keys or ``max_bytes`` of JSON."""
    if len(value) > max_keys:
        raise ValidationFailed(
            f"metadata has {len(value)} keys; at most {max_keys} are allowed (MAX_METADATA_KEYS)."
        )
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > max_bytes:
        raise ValidationFailed(
            f"metadata is {size} bytes as JSON; at most {max_bytes} are allowed (MAX_METADATA_BYTES)."
        )


def not_future(value: datetime | None, now: datetime, field: str) -> None:
    """Refuse a time more than :data:`FUTURE_SLACK` ahead of ``now``."""
    if value is not None and value > now + FUTURE_SLACK:
        raise ValidationFailed(
            f"{field} {value.isoformat()} is more than a day in the future; send the real time."
        )


def check_item(item: Any, now: datetime, max_keys: int, max_bytes: int) -> None:
    """What a write accepts beyond the model's own checks: the id's shape, the limits,
    and no time ahead of ``now``. ``item`` is a :class:`llm_memory.models.MemoryItem`."""
    memory_id(item.id, "id")
    text(item.content, "content")
    metadata_limits(item.metadata, max_keys, max_bytes)
    for field in ("created_at", "updated_at", "last_accessed_at"):
        not_future(getattr(item, field), now, field)
