"""R4 Subscriptions (subscription.html) with the Subscriptions Backport's id-only payload.

A Subscription here is R4's: `criteria` is a search (`CarePlan?category=...`), the channel
a `rest-hook` to an https endpoint, and the payload always id-only (Subscriptions R5
Backport, backport-payload-content `id-only`): a notification names the resource that
changed and never carries its data; the subscriber fetches it with its own token. The
notification is the Backport's R4 notification Bundle (a `history` Bundle whose first
entry is the subscription status as Parameters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit
from uuid import uuid4

from app.fhir.instant import format_instant
from app.fhir.outcome import FhirError
from app.fhir.search.parse import parse_search

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
PAYLOAD_CONTENT = f"{BACKPORT}/backport-payload-content"
NOTIFICATION_PROFILE = f"{BACKPORT}/backport-subscription-notification-r4"
STATUS_PROFILE = f"{BACKPORT}/backport-subscription-status-r4"
# R4 Subscriptions have no topic; the Backport's status carries one, so ours is this.
TOPIC = "http://esp-careplans.dk/fhir/SubscriptionTopic/criteria"
FHIR_JSON = "application/fhir+json"

Status = Literal["requested", "active", "error", "off"]
EventType = Literal["handshake", "heartbeat", "event-notification"]
# What a client may ask for; `active` and `error` are the server's to set.
CLIENT_STATUSES = frozenset({"requested", "off"})
# Search result parameters (R4 search.html#return): meaningless for matching one change.
_RESULT_PARAMETERS = frozenset(
    {"_sort", "_count", "_include", "_revinclude", "_summary", "_elements", "_total"}
)


@dataclass(frozen=True, slots=True)
class Channel:
    endpoint: str
    headers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """What a Subscription asks for: which changes, delivered where."""

    resource_type: str
    criteria: tuple[tuple[str, str], ...]
    channel: Channel


ENDPOINT = "Subscription.channel.endpoint"


def _invalid(message: str, expression: str) -> FhirError:
    return FhirError.of(422, "invariant", message, expression)


def parse_subscription(content: dict[str, Any], base_url: str) -> SubscriptionRequest:
    """The request a Subscription makes; 422 naming the element when it is not one we serve."""
    criteria = content.get("criteria")
    if not isinstance(criteria, str) or "?" not in criteria:
        raise _invalid(
            "criteria must be a search such as CarePlan?category=<system>|<code>",
            "Subscription.criteria",
        )
    resource_type, _, query = criteria.partition("?")
    pairs = tuple(parse_qsl(query, keep_blank_values=True))
    try:  # strict: criteria that do not parse would never match, or match everything
        parse_search([resource_type], list(pairs), base_url=base_url, lenient=False)
    except FhirError as exc:
        raise _invalid(
            f"criteria is not a search this server serves: {exc.issues[0].diagnostics}",
            "Subscription.criteria",
        ) from None
    if any(name.split(":")[0] in _RESULT_PARAMETERS for name, _ in pairs):
        raise _invalid("criteria may not page, sort or include", "Subscription.criteria")
    channel = content.get("channel") or {}
    if channel.get("type") != "rest-hook":
        raise _invalid("Only rest-hook channels are served", "Subscription.channel.type")
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise _invalid("A rest-hook needs an endpoint", "Subscription.channel.endpoint")
    payload = channel.get("payload")
    if payload is not None and payload != FHIR_JSON:
        raise _invalid(f"Notifications are {FHIR_JSON} (id-only)", "Subscription.channel.payload")
    payload_extensions = (channel.get("_payload") or {}).get("extension") or []
    for ext in payload_extensions:
        if ext.get("url") == PAYLOAD_CONTENT and ext.get("valueCode") != "id-only":
            raise _invalid(
                "Only id-only notifications are sent: a notification never carries data",
                "Subscription.channel.payload.extension",
            )
    headers = channel.get("header") or []
    for index, line in enumerate(headers):
        name, colon, _ = str(line).partition(":")
        if not colon or not name.strip() or " " in name.strip():
            raise _invalid(
                "Each header is a line 'Name: value'", f"Subscription.channel.header[{index}]"
            )
    return SubscriptionRequest(resource_type, pairs, Channel(endpoint, tuple(headers)))


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True, slots=True)
class EndpointPolicy:
    """Where notifications may go (ESP_SUBSCRIPTION_ENDPOINT_HOSTS): a subscription must
    never make the server call an address its operator did not list, internal ones least
    of all. https always in production; loopback too in development."""

    allowed_hosts: frozenset[str] = frozenset()
    development: bool = False

    def check(self, endpoint: str) -> None:
        """422 at Subscription.channel.endpoint for an endpoint we may not call."""
        try:
            parts = urlsplit(endpoint)
            host = (parts.hostname or "").lower()
            _ = parts.port  # a malformed port is a ValueError
        except ValueError:
            raise _invalid("The endpoint is not a URL", ENDPOINT) from None
        if parts.username or parts.password or not host:
            raise _invalid("The endpoint must be a URL with a host and no credentials", ENDPOINT)
        loopback = self.development and host in LOOPBACK
        schemes = ("https", "http") if loopback else ("https",)
        if parts.scheme.lower() not in schemes:
            raise _invalid("Notifications go to https endpoints only", ENDPOINT)
        if not loopback and host not in self.allowed_hosts:
            raise _invalid(
                f"The endpoint host {host} is not one this server may notify "
                "(ESP_SUBSCRIPTION_ENDPOINT_HOSTS)",
                ENDPOINT,
            )


def as_requested(content: dict[str, Any]) -> dict[str, Any]:
    """A client's Subscription with the server-owned parts set: status `requested` unless
    the client turns it `off`; `error` is the server's to write."""
    status = content.get("status")
    result = {key: value for key, value in content.items() if key not in ("error", "_error")}
    result["status"] = status if status in CLIENT_STATUSES else "requested"
    return result


def _status_parameters(
    subscription_url: str,
    status: Status,
    event_type: EventType,
    events_since_start: int,
    events: Sequence[tuple[int, datetime, str]],
) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": subscription_url}},
        {"name": "topic", "valueCanonical": TOPIC},
        {"name": "status", "valueCode": status},
        {"name": "type", "valueCode": event_type},
        {"name": "events-since-subscription-start", "valueString": str(events_since_start)},
    ]
    for number, timestamp, focus in events:
        parameters.append(
            {
                "name": "notification-event",
                "part": [
                    {"name": "event-number", "valueString": str(number)},
                    {"name": "timestamp", "valueInstant": format_instant(timestamp)},
                    {"name": "focus", "valueReference": {"reference": focus}},
                ],
            }
        )
    return {
        "resourceType": "Parameters",
        "id": str(uuid4()),
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": parameters,
    }


def notification_bundle(
    subscription_url: str,
    *,
    status: Status,
    event_type: EventType,
    events_since_start: int,
    events: Sequence[tuple[int, datetime, str]] = (),
    timestamp: datetime,
) -> dict[str, Any]:
    """The Backport's R4 notification: status first, then one id-only entry per event
    (its fullUrl and request, never the resource)."""
    status_entry = _status_parameters(
        subscription_url, status, event_type, events_since_start, events
    )
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{status_entry['id']}",
            "resource": status_entry,
            "request": {"method": "GET", "url": f"{subscription_url}/$status"},
            "response": {"status": "200"},
        }
    ]
    for _, _, focus in events:
        entries.append(
            {
                "fullUrl": focus,
                "request": {"method": "PUT", "url": focus},
                "response": {"status": "200"},
            }
        )
    return {
        "resourceType": "Bundle",
        "id": str(uuid4()),
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": format_instant(timestamp),
        "entry": entries,
    }
