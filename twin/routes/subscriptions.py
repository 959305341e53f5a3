"""Subscriptions (who hears about what) and the delivery log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from models.access import Role
from models.alerting import Subscription
from twin.access import require
from twin.alert_schemas import DeliveryPublic, SubscriptionCreate, SubscriptionPublic
from twin.context import TwinContext
from twin.deps import Context

# Who hears what, and what was sent: facility managers' business, reads included.
router = APIRouter(
    prefix="/api/v1", tags=["subscriptions"], dependencies=[Depends(require(Role.MANAGER))]
)


@router.get("/subscriptions")
async def list_subscriptions(context: Context) -> list[SubscriptionPublic]:
    return [SubscriptionPublic.of(s) for s in await context.store.subscriptions()]


@router.post("/subscriptions", status_code=201)
async def create_subscription(body: SubscriptionCreate, context: Context) -> SubscriptionPublic:
    """Subscribe a channel: the first contact hears at once, the next ones while nobody
    acknowledges. Webhooks are signed with ``secret`` (header ``X-Twin-Signature``)."""
    return await _put(body, uuid.uuid4().hex[:12], context)


@router.get("/subscriptions/{subscription_id}")
async def get_subscription(subscription_id: str, context: Context) -> SubscriptionPublic:
    subscription = await context.store.subscription(subscription_id)
    if subscription is None:
        raise HTTPException(404, f"no subscription {subscription_id!r}")
    return SubscriptionPublic.of(subscription)


@router.put("/subscriptions/{subscription_id}")
async def replace_subscription(
    subscription_id: str, body: SubscriptionCreate, context: Context
) -> SubscriptionPublic:
    """Replace a subscription; a webhook's secret is kept when the body leaves it empty."""
    old = await context.store.subscription(subscription_id)
    if old is None:
        raise HTTPException(404, f"no subscription {subscription_id!r}")
    if not body.secret and old.channel is body.channel:
        body = body.model_copy(update={"secret": old.secret})
    return await _put(body, subscription_id, context)


@router.delete("/subscriptions/{subscription_id}", status_code=204)
async def delete_subscription(subscription_id: str, context: Context) -> Response:
    if not await context.store.delete_subscription(subscription_id):
        raise HTTPException(404, f"no subscription {subscription_id!r}")
    if context.dispatcher is not None:
        context.dispatcher.remove_subscription(subscription_id)
    return Response(status_code=204)


@router.get("/deliveries")
async def list_deliveries(
    context: Context,
    subscription_id: str | None = None,
    incident_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
) -> list[DeliveryPublic]:
    """Every delivery attempt, newest first, with the outcome in words."""
    deliveries = await context.store.deliveries(
        subscription_id=subscription_id, incident_id=incident_id, limit=limit
    )
    return [DeliveryPublic.of(d) for d in deliveries]


async def _put(
    body: SubscriptionCreate, subscription_id: str, context: TwinContext
) -> SubscriptionPublic:
    try:
        subscription: Subscription = body.to_subscription(subscription_id)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if subscription.building_id is not None and (
        await context.store.building(subscription.building_id) is None
    ):
        raise HTTPException(404, f"no building {subscription.building_id!r}")
    await context.store.put_subscription(subscription)
    if context.dispatcher is not None:
        context.dispatcher.put_subscription(subscription)
    return SubscriptionPublic.of(subscription)
