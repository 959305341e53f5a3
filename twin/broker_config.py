"""The broker's side of device identity: Mosquitto's password file, ACL and configuration.

Written from the store's device credentials, so the broker and the twin agree on who may
connect: every active device may publish only under ``twin/v1/devices/{its id}/``, the
twin's service account may read those topics and publish and read alert events under
``twin/v1/buildings/``, anonymous clients cannot connect, and revoked devices are gone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from models.access import DeviceCredential

SERVICE_USER = "twin"  # the ingest (and alert publisher) account
# Mosquitto's own $7$ format: PBKDF2-SHA512, 12-byte salt. Passwords here are 32 random
# characters, so the count guards little; it is kept moderate because Mosquitto hashes on
# every CONNECT on its one thread, and a district's devices reconnect together after an outage.
PBKDF2_ITERATIONS = 1000


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``$7$iterations$salt$hash`` as ``mosquitto_passwd`` writes it."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, 64)
    salt_b64, digest_b64 = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"$7${PBKDF2_ITERATIONS}${salt_b64}${digest_b64}"


def verify_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches a ``$7$`` hash (ours or mosquitto_passwd's)."""
    try:
        _, kind, iterations, salt, digest = hashed.split("$")
        if kind != "7":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.pbkdf2_hmac(
            "sha512", password.encode(), base64.b64decode(salt), int(iterations), len(expected)
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


def new_password() -> str:
    return secrets.token_urlsafe(24)  # 32 characters, 192 bits


@dataclass(frozen=True)
class BrokerFiles:
    """What ``write_broker_files`` wrote, and how the twin logs in."""

    config: Path
    passwords: Path
    acl: Path
    service_password: str


def acl_text() -> str:
    return "\n".join(
        [
            "# Written by `twin devices`; edits are overwritten.",
            "# Anonymous clients cannot connect (allow_anonymous false), so no general rules.",
            f"user {SERVICE_USER}",
            "topic read twin/v1/devices/#",
            "topic readwrite twin/v1/buildings/#",
            "",
            "# Every other account is a device: it publishes only under its own id.",
            "pattern write twin/v1/devices/%u/#",
            "",
        ]
    )


def passwords_text(devices: Iterable[DeviceCredential], service_hash: str) -> str:
    lines = [f"{SERVICE_USER}:{service_hash}"]
    lines += [
        f"{d.device_id}:{d.password_hash}"
        for d in sorted(devices, key=lambda d: d.device_id)
        if d.active and d.device_id != SERVICE_USER
    ]
    return "\n".join(lines) + "\n"


def config_text(
    directory: Path, port: int, host: str = "127.0.0.1", extra: Sequence[str] = ()
) -> str:
    return "\n".join(
        [
            "# Mosquitto configuration written by `twin devices broker-config`.",
            "# Start: mosquitto -c " + str(directory / "mosquitto.conf"),
            "# Reload after `twin devices add/revoke/rotate`: kill -HUP <mosquitto pid>",
            "per_listener_settings false",
            f"listener {port} {host}",
            "allow_anonymous false",
            f"password_file {directory / 'passwords'}",
            f"acl_file {directory / 'acl'}",
            *extra,
            "",
        ]
    )


def write_broker_files(
    directory: Path,
    devices: Iterable[DeviceCredential],
    *,
    port: int = 1883,
    host: str = "127.0.0.1",
    extra: Sequence[str] = (),
) -> BrokerFiles:
    """Write passwords, ACL and configuration into ``directory``; ``extra`` lines go to the
    end of the configuration (e.g. ``user root`` for a broker run as root).

    The files are readable by their owner only: the broker must run as the same user, or
    be given them with ``chown``.
    """
    files = write_credentials(directory, devices)
    _write_private(files.config, config_text(directory, port, host, extra))
    return files


def write_credentials(directory: Path, devices: Iterable[DeviceCredential]) -> BrokerFiles:
    """Rewrite the password file and ACL after devices changed; the configuration stays.

    The service account's password is made once and kept in ``service-password`` (mode
    0600) so a rewrite after adding a device does not log the twin out.
    """
    directory.mkdir(parents=True, exist_ok=True)
    secret_file = directory / "service-password"
    if secret_file.exists():
        service_password = secret_file.read_text().strip()
    else:
        service_password = new_password()
        _write_private(secret_file, service_password + "\n")
    files = BrokerFiles(
        directory / "mosquitto.conf", directory / "passwords", directory / "acl", service_password
    )
    _write_private(files.passwords, passwords_text(devices, hash_password(service_password)))
    _write_private(files.acl, acl_text())
    return files


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with a file only its owner can read."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
