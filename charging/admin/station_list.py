"""The station monitoring list (ChargePointAdmin's changelist): columns, filters, search, row actions, the
live-status endpoint its script polls, and saved filter views.

Built for 50 000 stations: a page is one query for the rows (open alarms counted in a subquery), one for all their
connectors, one COUNT (the full-table count and facet counts are switched off), one grouped query for the
vendor/model and firmware choices and one for the sites; owners are picked through the admin's autocomplete
search instead of being listed. Filters and search match related rows with ``pk IN (subquery)``, so no row is
repeated and no DISTINCT is needed.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import get_last_value_from_parameters, quote
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, Q
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import get_script_prefix, get_urlconf, path, reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import smart_split, unescape_string_literal
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.tenancy import is_operator_staff
from billing.selectors import energy_price_text, station_energy_prices
from charging.models import Alarm, ChargePoint, SavedStationView
from charging.selectors import station_list as selectors
from charging.services import saved_views
from charging.status_text import CONNECTOR_STATUS_TEXT

LIVE_STATUS_INTERVAL_MS = 5000
STATION_LIST_TEMPLATE = "admin/charging/chargepoint/change_list.html"
ORGANIZATION_PARAMETER = "organization__id__exact"
_PK_PLACEHOLDER = "__station__"
MODE_WORDS = {"private": gettext_lazy("Private"), "public": gettext_lazy("Public"),
              "semi_public": gettext_lazy("Semi-public")}


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _hardware_choices(request) -> selectors.HardwareChoices:
    # The vendor/model and firmware filters share one query per request.
    if not hasattr(request, "_station_hardware_choices"):
        request._station_hardware_choices = selectors.hardware_choices(user=request.user)
    return request._station_hardware_choices


# --- filters -----------------------------------------------------------------------------------------------------
class OrganizationAutocompleteFilter(admin.FieldListFilter):
    """Owner filter that searches organizations through the admin's autocomplete view (scoped by the
    organization admin) instead of listing thousands of them; only a chosen one is read to show its name."""

    is_autocomplete = True  # the list template renders autocomplete_html instead of links

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.lookup_kwarg = f"{field_path}__id__exact"
        self.admin_site = model_admin.admin_site
        super().__init__(field, request, params, model, model_admin, field_path)
        self.lookup_val = get_last_value_from_parameters(self.used_parameters, self.lookup_kwarg)
        self.title = gettext_lazy("owner")

    def expected_parameters(self):
        return [self.lookup_kwarg]

    def choices(self, changelist):
        yield {"selected": self.lookup_val is None, "display": _("All"),
               "query_string": changelist.get_query_string(remove=[self.lookup_kwarg, LocationFilter.parameter_name])}

    def autocomplete_html(self):
        """The search box (rendered by the list template in place of a list of links)."""
        choice = forms.ModelChoiceField(
            queryset=selectors.visible_organizations(self.request.user), required=False,
            widget=AutocompleteSelect(self.field, self.admin_site, attrs={
                "data-filter-param": self.lookup_kwarg, "data-filter-clears": LocationFilter.parameter_name,
                "aria-label": _("Owner"), "style": "width: 100%"}))
        return choice.widget.render("station-filter-organization", self.lookup_val,
                                    attrs={"id": "station-filter-organization"})


class LocationFilter(admin.SimpleListFilter):
    """Sites of the chosen owner, or all the user sees when they are few enough to list."""

    title = gettext_lazy("site")
    parameter_name = "location"
    hint = ""

    def lookups(self, request, model_admin):
        organization_id = _int_or_none(request.GET.get(ORGANIZATION_PARAMETER))
        choices = selectors.location_choices(user=request.user, organization_id=organization_id)
        if choices is None:
            self.hint = (_("Choose an owner to list its sites.") if organization_id is None
                         else _("Too many sites to list: search for the address instead."))
            return []
        return [(str(pk), name) for pk, name in choices]

    def has_output(self):
        return bool(self.lookup_choices or self.hint)

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        location_id = _int_or_none(self.value())
        if location_id is None:
            raise IncorrectLookupParameters(_("Unknown site."))
        return queryset.filter(location_id=location_id)


class ConnectorStatusFilter(admin.SimpleListFilter):
    """Stations where the whole station or any connector reported this status."""

    title = gettext_lazy("connector status")
    parameter_name = "connector_status"

    def lookups(self, request, model_admin):
        return [(status, f"{status} ({text})") for status, text in CONNECTOR_STATUS_TEXT.items()]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        if self.value() not in CONNECTOR_STATUS_TEXT:
            raise IncorrectLookupParameters(_("Unknown status."))
        return queryset.filter(selectors.status_q(self.value()))


class VendorModelFilter(admin.SimpleListFilter):
    title = gettext_lazy("vendor / model")
    parameter_name = "vendor_model"
    separator = "|"

    def lookups(self, request, model_admin):
        return [(f"{vendor}{self.separator}{model}", f"{vendor} {model}".strip())
                for vendor, model in _hardware_choices(request).vendor_models]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        vendor, found, model = self.value().partition(self.separator)
        if not found:
            raise IncorrectLookupParameters(_("Unknown vendor / model."))
        return queryset.filter(vendor=vendor, model=model)


class FirmwareFilter(admin.SimpleListFilter):
    title = gettext_lazy("firmware")
    parameter_name = "firmware"

    def lookups(self, request, model_admin):
        return [(version, version) for version in _hardware_choices(request).firmware_versions]

    def queryset(self, request, queryset):
        return queryset if self.value() is None else queryset.filter(firmware_version=self.value())


class ErrorRateFilter(admin.SimpleListFilter):
    """Bands of ChargePoint.error_rate (failed / all sessions of the last 30 days)."""

    title = gettext_lazy("error rate")
    parameter_name = "error_rate"
    BANDS = {
        "none": Q(error_rate__isnull=True) | Q(error_rate=0),
        "any": Q(error_rate__gt=0),
        "10": Q(error_rate__gte="0.10"),
        "25": Q(error_rate__gte="0.25"),
    }

    def lookups(self, request, model_admin):
        return [("none", _("None (0 % or no sessions)")), ("any", _("Above 0 %")), ("10", _("10 % or more")),
                ("25", _("25 % or more"))]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        if self.value() not in self.BANDS:
            raise IncorrectLookupParameters(_("Unknown error rate band."))
        return queryset.filter(self.BANDS[self.value()])


class ServiceFilter(admin.SimpleListFilter):
    """In service (the default, without a parameter), decommissioned, or all."""

    title = gettext_lazy("service")
    parameter_name = "service"

    def lookups(self, request, model_admin):
        return [("decommissioned", _("Decommissioned")), ("all", _("All"))]

    def choices(self, changelist):
        yield {"selected": self.value() is None, "display": _("In service"),
               "query_string": changelist.get_query_string(remove=[self.parameter_name])}
        for value, label in self.lookup_choices:
            yield {"selected": self.value() == value, "display": label,
                   "query_string": changelist.get_query_string({self.parameter_name: value})}

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset.filter(decommissioned_at__isnull=True)
        if self.value() == "decommissioned":
            return queryset.filter(decommissioned_at__isnull=False)
        if self.value() == "all":
            return queryset
        raise IncorrectLookupParameters(_("Unknown service state."))


class OpenAlarmsFilter(admin.SimpleListFilter):
    title = gettext_lazy("open alarms")
    parameter_name = "open_alarms"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        # The open alarms are few and indexed (closed_at): collect their stations once.
        has_open = Q(pk__in=Alarm.objects.filter(closed_at__isnull=True).values("charge_point_id"))
        if self.value() == "yes":
            return queryset.filter(has_open)
        if self.value() == "no":
            return queryset.exclude(has_open)
        raise IncorrectLookupParameters(_("Choose yes or no."))


class StationChangeList(ChangeList):
    """Reads the connectors and alarm counts for the shown page only, so neither the COUNT nor an export of
    the filtered list pays for them."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = selectors.list_page(self.result_list)
        # The energy price a driver without groups pays now, resolved for the whole page at once.
        prices = station_energy_prices(self.result_list, timezone.now())
        for station in self.result_list:
            station.energy_price = prices.get(station.pk)

    def url_for_result(self, result):
        return self.model_admin._url("charging_chargepoint_change", result.pk)


# --- the mixin ---------------------------------------------------------------------------------------------------
class StationListMixin:
    """ChargePointAdmin's changelist: the monitoring list support staff keep open all day."""

    change_list_template = STATION_LIST_TEMPLATE
    list_display = ["identity", "serial", "display_name", "system_name", "locked_box", "mode", "network",
                    "status_text", "energy_price_text", "owner", "site", "ocpp_version", "error_rate_percent",
                    "open_alarms", "row_actions"]
    list_display_links = ["identity"]
    list_filter = [("organization", OrganizationAutocompleteFilter), LocationFilter, ConnectorStatusFilter,
                   "is_connected", "ocpp_version", VendorModelFilter, FirmwareFilter, ErrorRateFilter,
                   ServiceFilter, OpenAlarmsFilter]
    # The station's own columns the search box looks in; get_search_results adds EVSE-IDs and site addresses.
    search_fields = selectors.SEARCH_FIELDS
    search_help_text = gettext_lazy("Identity, serial number, name, EVSE-ID or site address.")
    ordering = ["identity"]
    sortable_by = ["identity", "serial", "display_name", "system_name", "network", "ocpp_version",
                   "error_rate_percent"]
    list_select_related = ["organization", "location"]
    list_per_page = 100
    # A second COUNT, over every station, on each page view would only buy the "of N in total" text; the count of
    # the filtered list is still shown.
    show_full_result_count = False
    # Facet counts would run one COUNT per filter choice.
    show_facets = admin.ShowFacets.NEVER

    def init_change_list_template(self):
        # django-import-export would wrap this template in its own change_list_import_export.html, which this
        # template already extends: keep ours, and let theirs extend the stock admin list.
        self.ie_base_change_list_template = "admin/change_list.html"
        self.change_list_template = STATION_LIST_TEMPLATE

    def get_changelist(self, request, **kwargs):
        return StationChangeList

    def get_list_display(self, request):
        names = list(super().get_list_display(request))
        if not (is_operator_staff(request.user) and self.has_change_permission(request)):
            names = [("details_link" if name == "row_actions" else name) for name in names]
        if not request.user.has_perm("charging.view_alarm"):
            names = [("open_alarms_count" if name == "open_alarms" else name) for name in names]
        return names

    @property
    def media(self):
        organization = ChargePoint._meta.get_field("organization")
        return super().media + AutocompleteSelect(organization, self.admin_site).media

    # --- search ---------------------------------------------------------------------------------------------------
    def get_search_results(self, request, queryset, search_term):
        """Every word must match a station column, an EVSE-ID or the site's address. Related rows are matched in
        subqueries, so a station with several matching EVSEs is listed once and no DISTINCT is needed."""
        for bit in smart_split(search_term):
            if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
                bit = unescape_string_literal(bit)
            if bit:
                queryset = queryset.filter(selectors.search_q(bit))
        return queryset, False

    # --- columns --------------------------------------------------------------------------------------------------
    def _texts(self, obj) -> dict:
        # Three columns share these texts; build them once per row.
        if not hasattr(obj, "_station_texts"):
            obj._station_texts = selectors.station_texts(obj, timezone.now())
        return obj._station_texts

    def _reversed(self, name: str, *args) -> str:
        # A page has several hundred row links, and reversing each cost more than building the rest of the row:
        # reverse once per URL (and script prefix), with a placeholder where a row's key goes.
        key = (get_script_prefix(), get_urlconf(), name, args)
        templates = self.__dict__.setdefault("_row_url_templates", {})
        if key not in templates:
            templates[key] = reverse(f"admin:{name}", args=args, current_app=self.admin_site.name)
        return templates[key]

    def _url(self, name: str, pk, *args) -> str:
        return self._reversed(name, _PK_PLACEHOLDER, *args).replace(_PK_PLACEHOLDER, quote(str(pk)))

    @admin.display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, obj):
        # The same markup as ModelAdmin.action_checkbox, which renders a widget template per row: that was 40 %
        # of the time a page of 100 stations took to build.
        return format_html('<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
                           ACTION_CHECKBOX_NAME, obj.pk,
                           format_html(_("Select this object for an action - {}"), obj))

    @staticmethod
    def _live(obj, name: str, text, state: str = ""):
        return format_html('<span class="station-live" data-cp="{}" data-live="{}" data-state="{}">{}</span>',
                           obj.pk, name, state, text)

    @admin.display(description=gettext_lazy("serial number"), ordering="serial_number")
    def serial(self, obj):
        return obj.serial_number

    @admin.display(description=gettext_lazy("mode"))
    def mode(self, obj):
        # The mode in force now (the schedule may switch it). The choices' labels explain each mode at length; a
        # list column needs the word.
        short = MODE_WORDS.get(obj.current_access_mode)
        return str(short) if short is not None else obj.get_current_access_mode_display()

    @admin.display(description=gettext_lazy("energy price"))
    def energy_price_text(self, obj):
        return energy_price_text(getattr(obj, "energy_price", None))

    @admin.display(description=gettext_lazy("network"), ordering="last_seen_at")
    def network(self, obj):
        texts = self._texts(obj)
        return self._live(obj, "network", texts["network"], "connected" if texts["connected"] else "offline")

    @admin.display(description=gettext_lazy("status"))
    def status_text(self, obj):
        return self._live(obj, "status", self._texts(obj)["status"])

    @admin.display(description=gettext_lazy("owner"))
    def owner(self, obj):
        return obj.organization.name

    @admin.display(description=gettext_lazy("site"))
    def site(self, obj):
        if obj.location is None:
            return "—"
        address = ", ".join(filter(None, [obj.location.street_address, obj.location.city]))
        return format_html('<span title="{}">{}</span>', address, obj.location.name)

    # Worst first when sorted descending, with stations without sessions (no rate) last; ascending is the exact
    # reverse. The same on every database, and PostgreSQL's (error_rate DESC NULLS LAST) index serves both ways.
    @admin.display(description=gettext_lazy("error rate"), ordering=F("error_rate").asc(nulls_first=True))
    def error_rate_percent(self, obj):
        if obj.error_rate is None:
            return "—"
        return f"{number_format(obj.error_rate * 100, 1)} %"

    @admin.display(description=gettext_lazy("open alarms"))
    def open_alarms_count(self, obj):
        return self._live(obj, "open_alarms", self._texts(obj)["open_alarms"])

    @admin.display(description=gettext_lazy("open alarms"))
    def open_alarms(self, obj):
        return format_html('<a href="{}?charge_point__id__exact={}">{}</a>',
                           self._reversed("charging_alarm_changelist"), obj.pk,
                           self.open_alarms_count(obj))

    @admin.display(description=gettext_lazy("actions"))
    def row_actions(self, obj):
        links = [(self._url("charging_chargepoint_change", obj.pk), _("Details"))]
        if obj.decommissioned_at is None:
            links += [(self._url("charging_chargepoint_action", obj.pk, "reset"), _("Reboot")),
                      (self._url("charging_chargepoint_action", obj.pk, "decommission"), _("Decommission"))]
        else:
            links.append((self._url("charging_chargepoint_action", obj.pk, "recommission"), _("Recommission")))
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    @admin.display(description=gettext_lazy("actions"))
    def details_link(self, obj):
        return format_html('<a href="{}">{}</a>', self._url("charging_chargepoint_change", obj.pk), _("Details"))

    # --- pages ----------------------------------------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("live-status/", view(self.live_status_view), name="charging_chargepoint_live_status"),
            path("saved-views/", view(require_POST(self.saved_view_save_view)),
                 name="charging_chargepoint_saved_view_save"),
            path("saved-views/<int:view_id>/delete/", view(require_POST(self.saved_view_delete_view)),
                 name="charging_chargepoint_saved_view_delete"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        if request.method == "GET" and "e" in request.GET:
            # The admin sends a list with an unusable filter value back here without saying why.
            self.message_user(request, _("A filter value in the address was not valid; the filters were cleared."),
                              messages.WARNING)
        current = saved_views.clean_query(request.GET.urlencode())
        context = {
            "station_saved_views": [{"view": view, "active": view.query == current}
                                    for view in selectors.saved_views(user=request.user)],
            "station_current_query": current,
            "station_live_status_interval": LIVE_STATUS_INTERVAL_MS,
        }
        return super().changelist_view(request, {**context, **(extra_context or {})})

    def live_status_view(self, request):
        """JSON for the list's script: network, status and open alarms of the stations on the page."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        raw = request.GET.get("ids", "")
        limit = selectors.LIVE_STATUS_MAX_IDS
        try:
            if len(raw) > limit * 21:
                raise ValueError
            ids = sorted({int(part) for part in raw.split(",") if part.strip()})
        except ValueError:
            return JsonResponse({"error": _("ids must be station numbers separated by commas.")}, status=400)
        if not ids:
            return JsonResponse({"error": _("Name at least one station (ids=1,2,3).")}, status=400)
        if len(ids) > limit:
            return JsonResponse({"error": _("At most %(n)d stations per request.") % {"n": limit}}, status=400)
        now = timezone.now()
        stations = selectors.live_status(user=request.user, ids=ids, now=now)
        return JsonResponse({"at": now.isoformat(), "stations": {str(pk): texts for pk, texts in stations.items()}})

    def _list_url(self, query: str) -> str:
        url = reverse("admin:charging_chargepoint_changelist")
        return f"{url}?{query}" if query else url

    def saved_view_save_view(self, request):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        query = request.POST.get("query", "")
        try:
            view, created = saved_views.saved_view_save(acting_user=request.user, name=request.POST.get("name", ""),
                                                        query=query)
        except ValidationError as exc:
            self.message_user(request, _("The view was not saved: %(why)s") % {"why": " ".join(exc.messages)},
                              messages.ERROR)
            return HttpResponseRedirect(self._list_url(saved_views.clean_query(query)))
        message = _("Saved the view “%(name)s”.") if created else _("Updated the view “%(name)s”.")
        self.message_user(request, message % {"name": view.name}, messages.SUCCESS)
        return HttpResponseRedirect(self._list_url(view.query))

    def saved_view_delete_view(self, request, view_id):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        # Another person's view is "not found", exactly like one that does not exist.
        view = get_object_or_404(SavedStationView, pk=view_id, user=request.user)
        saved_views.saved_view_delete(view=view, acting_user=request.user)
        self.message_user(request, _("Deleted the view “%(name)s”.") % {"name": view.name}, messages.SUCCESS)
        return HttpResponseRedirect(self._list_url(saved_views.clean_query(request.POST.get("query", ""))))
