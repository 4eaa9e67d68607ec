"""The public, read-only locations feed for map and navigation providers: a GeoJSON FeatureCollection of the sites
OCPI publishes (the same rules: public EVSEs with an EVSE-ID, never semi-public or private ones), with each EVSE's
status in OCPI terms and in plain words, its connectors, power and price.

No login. The document is built at most once a minute per language (Django cache), and each client IP may ask
``ROAMING_FEED_RATE_LIMIT`` times a minute (default 60); beyond that the answer is 429 with a JSON message.
"""

from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from billing import pricing
from billing import selectors as billing_selectors
from charging.status_text import connector_status_text
from roaming import mapping

CACHE_SECONDS = 60
RATE_WINDOW_SECONDS = 60
_CACHE_KEY = "roaming:feed:{language}"
_RATE_KEY = "roaming:feed:rate:{ip}:{window}"


def _rate_limit() -> int:
    return int(getattr(settings, "ROAMING_FEED_RATE_LIMIT", 60))


def client_ip(request: HttpRequest) -> str:
    """The address the request came from. Behind a proxy, REMOTE_ADDR must be set from the proxy's header by the
    server (a client-supplied X-Forwarded-For would let anyone escape the limit)."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def _over_limit(ip: str, now_seconds: int) -> int | None:
    """Count this request; the seconds until the window ends when the client is over the limit, else None."""
    window = now_seconds // RATE_WINDOW_SECONDS
    key = _RATE_KEY.format(ip=ip, window=window)
    # add() then incr() so two processes starting a window cannot both reset it.
    cache.add(key, 0, RATE_WINDOW_SECONDS * 2)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.set(key, 1, RATE_WINDOW_SECONDS * 2)
        count = 1
    if count > _rate_limit():
        return (window + 1) * RATE_WINDOW_SECONDS - now_seconds
    return None


def _feature(location_data: dict, tariffs: dict[int, pricing.Tariff | None], current_types: dict[int, str]) -> dict:
    coordinates = location_data["coordinates"]
    evses = []
    for evse in location_data["evses"]:
        pk = int(evse["uid"])
        evses.append({
            "evse_id": evse["evse_id"],
            "status": evse["status"],
            "status_text": _status_text(evse["status"]),
            "connectors": [{"standard": connector["standard"], "format": connector["format"],
                            "power_type": connector["power_type"],
                            "max_power_kw": mapping.ocpi_number(
                                Decimal(connector["max_electric_power"]) / 1000).normalize()}
                           for connector in evse["connectors"]],
            "tariff": mapping.tariff_summary(tariffs.get(pk), current_types.get(pk, "AC")),
        })
    properties = {
        "id": location_data["id"],
        "name": location_data.get("name", ""),
        "address": location_data["address"],
        "postal_code": location_data.get("postal_code", ""),
        "city": location_data["city"],
        "country": location_data["country"],
        "time_zone": location_data["time_zone"],
        "opening_times": location_data["opening_times"],
        "evses": evses,
        "last_updated": location_data["last_updated"],
    }
    return {"type": "Feature",
            # GeoJSON positions are [longitude, latitude].
            "geometry": {"type": "Point", "coordinates": [Decimal(coordinates["longitude"]),
                                                          Decimal(coordinates["latitude"])]},
            "properties": properties}


#: OCPI statuses in plain words; the charger's own word is not public (it may name a fault).
_STATUS_WORDS = {
    "AVAILABLE": "Available",
    "CHARGING": "Charging",
    "BLOCKED": "Finishing",
    "RESERVED": "Reserved",
    "INOPERATIVE": "Unavailable",
    "OUTOFORDER": "Faulted",
    "UNKNOWN": "Unknown",
}


def _status_text(ocpi_status: str) -> str:
    if ocpi_status == "REMOVED":
        return _("Removed")
    if ocpi_status == "CHARGING":
        return _("In use")
    if ocpi_status == "UNKNOWN":
        return _("Status unknown")
    return connector_status_text(_STATUS_WORDS.get(ocpi_status, "Unknown"))


def build_feed(now) -> str:
    """The FeatureCollection as JSON text (exact decimal coordinates)."""
    locations = list(mapping.publishable_locations())
    charge_points = [charge_point for location in locations for charge_point in location.charge_points.all()]
    tariffs = _evse_tariffs(charge_points, now)
    current_types = {evse.pk: evse.current_type for cp in charge_points for evse in cp.evses.all()}
    features = []
    for location in locations:
        data = mapping.location_to_ocpi(location)
        if data is None:
            continue
        # Map users look for somewhere to charge: an EVSE taken out of service is left out, and a site with none
        # left is not shown.
        data["evses"] = [evse for evse in data["evses"] if evse["status"] != "REMOVED"]
        if data["evses"]:
            features.append(_feature(data, tariffs, current_types))
    return mapping.ocpi_json({"type": "FeatureCollection", "generated_at": mapping.ocpi_datetime(now),
                              "features": features})


def _evse_tariffs(charge_points, now) -> dict[int, pricing.Tariff | None]:
    if not charge_points:
        return {}
    records, _versions = billing_selectors.assignment_records(charge_points)
    result = {}
    for charge_point in charge_points:
        for context in billing_selectors.station_contexts(charge_point):
            if context.evse_id is not None:
                resolved = billing_selectors.resolve(records, context, now)
                result[context.evse_id] = resolved.tariff if resolved is not None else None
    return result


@require_safe
def view(request: HttpRequest) -> HttpResponse:
    """GET the public locations feed (GeoJSON)."""
    now = timezone.now()
    retry_after = _over_limit(client_ip(request), int(now.timestamp()))
    if retry_after is not None:
        response = JsonResponse({"detail": _("Too many requests: at most %(limit)d a minute. Try again in "
                                             "%(seconds)d seconds.") % {"limit": _rate_limit(),
                                                                       "seconds": retry_after}}, status=429)
        response["Retry-After"] = str(retry_after)
        return response
    key = _CACHE_KEY.format(language=get_language() or settings.LANGUAGE_CODE)
    body = cache.get(key)
    if body is None:
        body = build_feed(now)
        cache.set(key, body, CACHE_SECONDS)
    response = HttpResponse(body, content_type="application/geo+json; charset=utf-8")
    response["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    response["Access-Control-Allow-Origin"] = "*"
    return response
