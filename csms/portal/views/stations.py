"""The board's station pages: the list (live status, mode now), one station (EVSEs with EVSE-ID, status, the
running session's energy so far, mode now and the weekly schedule, the last 10 sessions, open alarms), changing its
access (mode, schedule, allowed groups; an EVSE's own mode), charging keys for guests (list, issue, revoke) and the
QR sticker PDF. Changes go through ``charging.services.access``; a viewer sees the forms' values but may not post."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import UserGroup
from charging import access
from charging.models import Alarm, ChargePoint, ChargingKey, ChargingSession, Evse
from charging.selectors import access as access_selectors
from charging.selectors.sessions import with_current_energy
from charging.selectors.station_list import list_page, station_texts
from charging.services.access import (
    charge_point_access_set,
    charging_key_issue,
    charging_key_revoke,
    evse_access_mode_set,
)
from charging.status_text import connector_status_text
from csms.portal import stickers
from csms.portal.access import BOARD, portal_view
from csms.portal.forms import PER_PAGE, apply_errors
from csms.portal.forms.stations import (
    MODE_LABELS,
    AccessForm,
    EvseModeForm,
    KeyIssueForm,
    KeyRevokeForm,
)
from csms.portal.views.dashboard import organization_stations

LAST_SESSIONS = 10


def _station(request, pk):
    return get_object_or_404(ChargePoint.objects.filter(organization=request.portal.organization)
                             .select_related("location"), pk=pk)


def _mode_label(mode) -> str:
    return str(MODE_LABELS.get(str(getattr(mode, "value", mode)), mode))


@portal_view(BOARD)
def stations(request):
    now = timezone.now()
    page = Paginator(organization_stations(request.portal.organization).select_related("location"),
                     PER_PAGE).get_page(request.GET.get("page"))
    rows = []
    for cp in list_page(page.object_list):
        rows.append({"station": cp, "texts": station_texts(cp, now),
                     "mode": _mode_label(access_selectors.charge_point_mode(cp, now))})
    return render(request, "portal/stations/list.html", {"page": page, "rows": rows})


def _station_page(request, station, *, access_form=None, evse_forms=None, status=200):
    now = timezone.now()
    evses = list(Evse.objects.filter(charge_point=station).prefetch_related(
        "connectors",
        Prefetch("sessions", queryset=with_current_energy(ChargingSession.objects.filter(
            status=ChargingSession.Status.ACTIVE)).select_related("user").order_by("-started_at"),
            to_attr="running")).order_by("evse_id"))
    station_mode = access_selectors.charge_point_mode(station, now)
    evse_forms = evse_forms or {}
    evse_rows = []
    for evse in evses:
        connectors = sorted(evse.connectors.all(), key=lambda c: c.connector_id)
        status_text = ", ".join(connector_status_text(c.status, c.error_code) for c in connectors) or \
            connector_status_text(evse.status)
        evse_rows.append({
            "evse": evse, "status": status_text if station.is_connected else _("Offline"),
            "session": evse.running[0] if evse.running else None,
            "mode": _mode_label(access_selectors.evse_mode(evse, now, station_mode=station_mode)),
            "form": evse_forms.get(evse.pk) or EvseModeForm(initial={"mode": evse.access_mode},
                                                            prefix=f"evse{evse.pk}"),
        })
    schedule = access_selectors.schedule_of(station)
    next_change = access.next_change(schedule, now)
    sessions = list(ChargingSession.objects.filter(charge_point=station).select_related("evse", "user")
                    .order_by("-started_at")[:LAST_SESSIONS])
    alarms = list(Alarm.objects.filter(charge_point=station, closed_at__isnull=True)
                  .order_by("-opened_at"))
    groups = UserGroup.objects.filter(organization=request.portal.organization).order_by("name")
    if access_form is None:
        access_form = AccessForm(groups=groups, initial={
            "access_mode": station.access_mode, "access_schedule": station.access_schedule,
            "allowed_groups": list(station.allowed_groups.all())})
    return render(request, "portal/stations/station.html", {
        "station": station, "evse_rows": evse_rows, "mode_now": _mode_label(station_mode),
        "mode_outside": _mode_label(station.access_mode),
        "rules": [(rule.describe(), _mode_label(rule.mode)) for rule in schedule.rules],
        "next_change": next_change and (next_change[0], _mode_label(next_change[1])),
        "sessions": sessions, "alarms": alarms, "access_form": access_form,
        "allowed_groups": list(station.allowed_groups.order_by("name")),
    }, status=status)


@portal_view(BOARD)
def station(request, pk):
    return _station_page(request, _station(request, pk))


@require_POST
@portal_view(BOARD)
def station_access(request, pk):
    station = _station(request, pk)
    request.portal.require_change()
    groups = UserGroup.objects.filter(organization=request.portal.organization).order_by("name")
    form = AccessForm(request.POST, groups=groups)
    if form.is_valid():
        try:
            charge_point_access_set(charge_point=station, mode=form.cleaned_data["access_mode"],
                                    rules=form.cleaned_data["access_schedule"] or (),
                                    allowed_groups=form.cleaned_data["allowed_groups"], acting_user=request.user,
                                    reason=form.cleaned_data["reason"], now=timezone.now())
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Access settings saved."))
            return redirect("portal:station", pk=station.pk)
    return _station_page(request, station, access_form=form, status=400)


@require_POST
@portal_view(BOARD)
def evse_mode(request, pk, evse_pk):
    station = _station(request, pk)
    evse = get_object_or_404(Evse.objects.filter(charge_point=station), pk=evse_pk)
    request.portal.require_change()
    form = EvseModeForm(request.POST, prefix=f"evse{evse.pk}")
    if form.is_valid():
        try:
            evse_access_mode_set(evse=evse, mode=form.cleaned_data["mode"], acting_user=request.user,
                                 reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The EVSE's mode was saved."))
            return redirect("portal:station", pk=station.pk)
    return _station_page(request, station, evse_forms={evse.pk: form}, status=400)


@require_GET
@portal_view(BOARD)
def station_stickers(request, pk):
    station = _station(request, pk)
    evses = Evse.objects.filter(charge_point=station).order_by("evse_id")
    items = stickers.stickers_for((evse.public_id, evse.evse_id, evse.public_code, access_selectors.start_url(evse))
                                  for evse in evses)
    pdf = stickers.render(str(station.display_name or station.identity), items,
                          request.portal.organization.locale)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="qr-{slugify(station.identity) or station.pk}.pdf"'
    return response


# --- Charging keys for guests ------------------------------------------------------------------------------------

def _keys(organization):
    return (ChargingKey.objects.filter(id_token__organization=organization)
            .select_related("id_token", "issued_by").prefetch_related("charge_points").order_by("-issued_at", "-pk"))


def _keys_page(request, *, form=None, status=200):
    organization = request.portal.organization
    page = Paginator(_keys(organization), PER_PAGE).get_page(request.GET.get("page"))
    stations_qs = organization_stations(organization)
    return render(request, "portal/stations/keys.html", {
        "page": page, "now": timezone.now(), "revoke_form": KeyRevokeForm(),
        "form": form or KeyIssueForm(stations=stations_qs)}, status=status)


@portal_view(BOARD)
def keys(request):
    return _keys_page(request)


@require_POST
@portal_view(BOARD)
def key_issue(request):
    request.portal.require_change()
    organization = request.portal.organization
    form = KeyIssueForm(request.POST, stations=organization_stations(organization))
    if form.is_valid():
        data = form.cleaned_data
        try:
            key = charging_key_issue(organization=organization, guest_name=data["guest_name"],
                                     guest_contact=data["guest_contact"], valid_from=data["valid_from"],
                                     valid_until=data["valid_until"], charge_points=data["charge_points"],
                                     acting_user=request.user, reason=data["reason"], now=timezone.now())
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Key %(code)s issued to %(guest)s.") % {
                "code": key.id_token.uid, "guest": key.guest_name})
            return redirect("portal:station_keys")
    return _keys_page(request, form=form, status=400)


@require_POST
@portal_view(BOARD)
def key_revoke(request, pk):
    key = get_object_or_404(_keys(request.portal.organization), pk=pk)
    request.portal.require_change()
    form = KeyRevokeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the key is revoked."))
        return redirect("portal:station_keys")
    try:
        charging_key_revoke(key=key, acting_user=request.user, reason=form.cleaned_data["reason"],
                            now=timezone.now())
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Key %(code)s revoked.") % {"code": key.id_token.uid})
    return redirect("portal:station_keys")
