"""Who may do what: API tokens with roles, and devices' broker credentials.

Secrets are never kept: a token is stored as the SHA-256 of its secret part (the secret is
random and long, so a slow hash buys nothing), a device password as Mosquitto's own
PBKDF2-SHA512 hash, so the broker's password file is written from the store as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Role(StrEnum):
    """What a token's holder may do; each role may do what the ones below it may."""

    VIEWER = "viewer"  # ops staff: read everything
    MANAGER = "manager"  # facility managers: acknowledge, resolve, shelve, subscriptions
    ADMIN = "admin"  # register buildings, sensors, devices and tokens

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANK = {Role.VIEWER: 0, Role.MANAGER: 1, Role.ADMIN: 2}


def check_name(kind: str, name: str) -> str:
    """A device or token name: letters, digits, ``_ . -``, at most 64; else ValueError."""
    if not _NAME.match(name):
        raise ValueError(
            f"{kind} {name!r} must be 1-64 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit"
        )
    return name


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A bearer token's record: ``twin_{id}_{secret}`` is what its holder sends."""

    id: str
    name: str  # who holds it, e.g. li.wei or ops-wall-3
    role: Role
    secret_sha256: str  # hex
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class DeviceCredential:
    """A device's broker account: it may publish only under ``twin/v1/devices/{id}/``."""

    device_id: str
    building_id: str
    password_hash: str  # Mosquitto's $7$ PBKDF2-SHA512 format
    created_at: float
    revoked_at: float | None = None

    def __post_init__(self) -> None:
        check_name("device id", self.device_id)

    @property
    def active(self) -> bool:
        return self.revoked_at is None
