"""The demo's credentials: a fresh admin token and device passwords each start, written for
the people and scripts that use the demo (``var/demo-credentials.json``, owner-only)."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from data import Store
from models.access import Role
from models.types import Building
from twin.auth import issue_token, revoke_token
from twin.devices import add_device, rotate_device

DEMO_TOKEN_NAME = "demo-admin"
CREDENTIALS_FILE = "demo-credentials.json"


async def demo_admin_token(store: Store, now: float) -> str:
    """Revoke the admin tokens earlier demo runs issued and issue a new one; its plaintext."""
    for token in await store.tokens():
        if token.name == DEMO_TOKEN_NAME and token.active:
            await revoke_token(store, token.id, now)
    _, plaintext = await issue_token(store, DEMO_TOKEN_NAME, Role.ADMIN, now)
    return plaintext


def write_private_json(path: Path, content: dict[str, Any]) -> None:
    """Write ``content`` to ``path`` as mode 0600 from the first byte: a temporary file made
    with that mode, then renamed over the old one (whatever mode the old one had)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file O_EXCL with mode 0600.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(content, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


async def demo_device_passwords(store: Store, building: Building, now: float) -> dict[str, str]:
    """A fresh broker password for every device of the demo building (registered if new),
    so the simulator connects as each device, as real devices must."""
    passwords = {}
    for device_id in sorted({s.device_id for s in building.sensors}):
        known = await store.device(device_id)
        if known is not None and known.active:
            _, passwords[device_id] = await rotate_device(store, device_id, now)
        else:
            _, passwords[device_id] = await add_device(store, device_id, building.id, now)
    return passwords


async def write_demo_credentials(
    store: Store,
    folder: Path,
    *,
    api_url: str,
    mqtt_url: str,
    now: float,
    devices: Mapping[str, str] = MappingProxyType({}),
) -> tuple[Path, str]:
    """Issue the demo's admin token and write it with the URLs (and the demo devices' broker
    passwords) to ``folder``; returns the file and the token."""
    token = await demo_admin_token(store, now)
    path = folder / CREDENTIALS_FILE
    content = {
        "api_url": api_url,
        "mqtt_url": mqtt_url,
        "admin_token": token,
        "viewer_url": f"{api_url}/viewer?token={token}",
        "devices": dict(devices),
    }
    await asyncio.to_thread(write_private_json, path, content)
    return path, token
