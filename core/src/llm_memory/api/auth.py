"""API keys, each bound to admin rights or to a set of user ids, and who may touch what."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from llm_memory.errors import ConfigError

ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``key_id`` is a short hash of the key (for logs and rate limits)."""

    key_id: str
    admin: bool = False
    users: frozenset[str] = frozenset()

    def may(self, user_id: str) -> bool:
        return self.admin or user_id in self.users

    @property
    def label(self) -> str:
        return f"{self.key_id}:admin" if self.admin else f"{self.key_id}:users"


class KeyRing:
    """The configured keys. Empty means no authentication (and loopback clients only)."""

    def __init__(self, keys: Mapping[str, str | list[str]]) -> None:
        self._keys: list[tuple[bytes, Principal]] = []
        for key, grant in keys.items():
            if not key or len(key) < 8:
                raise ConfigError("Every API key in API_KEYS must be at least 8 characters long.")
            key_id = hashlib.sha256(key.encode()).hexdigest()[:10]
            if grant == ADMIN:
                principal = Principal(key_id, admin=True)
            else:
                users = [grant] if isinstance(grant, str) else list(grant)
                if not users or not all(isinstance(u, str) and u.strip() for u in users):
                    raise ConfigError(
                        f'API key {key_id}… in API_KEYS must map to "admin" or a non-empty list of user ids.'
                    )
                principal = Principal(key_id, users=frozenset(u.strip() for u in users))
            self._keys.append((key.encode(), principal))

    def __bool__(self) -> bool:
        return bool(self._keys)

    def find(self, presented: str) -> Principal | None:
        """The principal of a presented key; compares every key in constant time."""
        found = None
        raw = presented.encode()
        for key, principal in self._keys:
            if hmac.compare_digest(key, raw):
                found = principal
        return found


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None
