"""Reads of charging sessions for the Connect API (and later the tenant portal): the filters every session list and
export shares, the live energy of running sessions as one subquery, and the token match in any uid spelling.

Callers narrow the queryset to the organizations they may see first; nothing here knows who is asking."""

from datetime import datetime

from django.db.models import BigIntegerField, Case, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce, Greatest

from accounts import identifiers
from accounts.models import IdToken
from charging.models import ChargingSession, MeterSample

ENERGY_REGISTER = "Energy.Active.Import.Register"


def uid_spellings(raw: str) -> set[str]:
    """Every form a token uid may be stored in: as given, and normalised for each token type that accepts it
    ("04:a2:3b:1c" and "04 A2 3B 1C" both find 04A23B1C)."""
    value = (raw or "").strip()
    spellings = {value} if value else set()
    for token_type in IdToken.Type.values:
        try:
            spellings.add(identifiers.normalize_token_uid(token_type, value))
        except ValueError:
            continue
    return spellings


def sessions_with_token(queryset: QuerySet, raw: str, *, token_id: int | None = None) -> QuerySet:
    """Sessions of a token given by uid (any spelling, as presented or as issued) or by its database id."""
    spellings = uid_spellings(raw)
    condition = Q(id_token_uid__in=spellings) | Q(id_token__uid__in=spellings)
    if token_id is not None:
        condition |= Q(id_token_id=token_id)
    return queryset.filter(condition)


def filter_sessions(queryset: QuerySet, *, started_from: datetime | None = None, started_to: datetime | None = None,
                    charge_point: int | None = None, location: int | None = None, evse: int | None = None,
                    user: int | None = None, id_token: str | None = None, status: str | None = None) -> QuerySet:
    """The session filters of the API lists, exports and the portal; None leaves a filter out. ``started_to`` is
    exclusive."""
    if started_from is not None:
        queryset = queryset.filter(started_at__gte=started_from)
    if started_to is not None:
        queryset = queryset.filter(started_at__lt=started_to)
    if charge_point is not None:
        queryset = queryset.filter(charge_point_id=charge_point)
    if location is not None:
        queryset = queryset.filter(charge_point__location_id=location)
    if evse is not None:
        queryset = queryset.filter(evse_id=evse)
    if user is not None:
        queryset = queryset.filter(user_id=user)
    if id_token:
        token_id = int(id_token) if id_token.isdigit() and len(id_token) < 19 else None
        queryset = sessions_with_token(queryset, id_token, token_id=token_id)
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def with_current_energy(queryset: QuerySet) -> QuerySet:
    """Annotate ``current_energy_wh``: the stored energy of a finished session, the energy so far of a running one
    (latest whole-station register reading minus the meter start, as stop_session would take it; never negative,
    0 before any reading). The subquery is only evaluated for running rows."""
    latest = MeterSample.objects.filter(session_id=OuterRef("pk"), measurand=ENERGY_REGISTER, phase="",
                                        unit="Wh").order_by("-timestamp", "-pk").values("value")[:1]
    so_far = Greatest(Coalesce(Cast(Subquery(latest), BigIntegerField()) - F("meter_start_wh"), Value(0)), Value(0))
    return queryset.annotate(current_energy_wh=Case(
        When(status=ChargingSession.Status.ACTIVE, then=so_far), default=F("energy_wh"),
        output_field=BigIntegerField()))


def meter_samples_of(session: ChargingSession) -> QuerySet:
    """The session's stored samples in time order, as the charger's values were converted on arrival."""
    return MeterSample.objects.filter(session=session).order_by("timestamp", "pk")

