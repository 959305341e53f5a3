"""Device credentials: issued once, stored hashed, rotated and revoked.

A device is registered to one building; the sensors of that building name it as their
``device_id``, and ingest refuses any record a device sends for a channel that is not its
own. The broker enforces the rest (``twin.broker_config``): a device may publish only
under ``twin/v1/devices/{its id}/``.
"""

from __future__ import annotations

from dataclasses import replace

from data import Store
from models.access import DeviceCredential, check_name
from twin.broker_config import SERVICE_USER, hash_password, new_password


class DeviceError(ValueError):
    """A device command that cannot be carried out; the message says why."""


async def add_device(
    store: Store, device_id: str, building_id: str, now: float
) -> tuple[DeviceCredential, str]:
    """Register a device and make its password; the plain password is returned only here."""
    check_name("device id", device_id)
    if device_id == SERVICE_USER:
        raise DeviceError(f"{SERVICE_USER!r} is the twin's own broker account")
    if await store.building(building_id) is None:
        raise DeviceError(f"no building {building_id!r}: `twin buildings add` registers one")
    existing = await store.device(device_id)
    if existing is not None and existing.active:
        raise DeviceError(
            f"device {device_id!r} exists: `twin devices rotate {device_id}` gives it a new "
            "password"
        )
    password = new_password()
    device = DeviceCredential(device_id, building_id, hash_password(password), now)
    await store.put_device(device)
    return device, password


async def rotate_device(store: Store, device_id: str, now: float) -> tuple[DeviceCredential, str]:
    """A new password for an active device; the old one stops working at the next reload."""
    device = await _active(store, device_id)
    password = new_password()
    rotated = replace(device, password_hash=hash_password(password), created_at=now)
    await store.put_device(rotated)
    return rotated, password


async def revoke_device(store: Store, device_id: str, now: float) -> DeviceCredential:
    """Cut a device off: its account leaves the broker's password file at the next write."""
    device = await _active(store, device_id)
    revoked = replace(device, revoked_at=now)
    await store.put_device(revoked)
    return revoked


async def _active(store: Store, device_id: str) -> DeviceCredential:
    device = await store.device(device_id)
    if device is None:
        raise DeviceError(f"no device {device_id!r}: `twin devices list` shows them")
    if not device.active:
        raise DeviceError(f"device {device_id!r} was revoked; `twin devices add` it anew")
    return device
