"""Access control in the admin: each charge point's access settings (mode, weekly schedule editor, allowed user
groups, EVSE overrides with their public codes and QR codes), bookings (add, cancel with a reason), booking
policies and charging keys (issue with a validity window, revoke).

Every write goes through ``charging.services.access`` or ``charging.services.bookings``. Forms that create rows
(bookings, keys) call their service while the form is validated, inside the admin's transaction, so whatever the
service refuses (an overlapping booking someone saved a moment ago) comes back as a form error, never a 500.
"""

from datetime import time

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminSplitDateTime, RelatedFieldWidgetWrapper
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin_base import REASON_FIELD, AuditedAdmin, TenantScopedInline, action_with_reason
from accounts.models import UserGroup
from accounts.selectors import id_tokens_visible_to, organizations_visible_to
from accounts.tenancy import scope
from charging import access
from charging.admin.base import ChargingChoicesMixin
from charging.models import Booking, BookingPolicy, ChargePoint, ChargePointAccess, ChargingKey, Evse
from charging.selectors import access as selectors
from charging.services import access as access_services
from charging.services import bookings as booking_services

WEEKDAY_SHORT = [gettext_lazy("Mon"), gettext_lazy("Tue"), gettext_lazy("Wed"), gettext_lazy("Thu"),
                 gettext_lazy("Fri"), gettext_lazy("Sat"), gettext_lazy("Sun")]
MODE_SHORT = {ChargePoint.AccessMode.PRIVATE: gettext_lazy("private"),
              ChargePoint.AccessMode.PUBLIC: gettext_lazy("public"),
              ChargePoint.AccessMode.SEMI_PUBLIC: gettext_lazy("semi-public")}
DAY_LABEL_STYLE = "display: inline; width: auto; min-width: 0; padding: 0 0.6em 0 0; white-space: nowrap"
#: At most this many rows are read from a posted schedule (a week needs far fewer).
MAX_RULES = 50


def _with_request(form_class: type[forms.BaseForm], request) -> type[forms.BaseForm]:
    """The form class, knowing who submits it (its service call needs the acting user)."""
    return type(form_class.__name__, (form_class,), {"request": request})


class PlainRelatedFieldsMixin:
    """No add / change / delete / view buttons beside choice lists: a booking or key form picks existing rows."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None and isinstance(formfield.widget, RelatedFieldWidgetWrapper):
            widget = formfield.widget
            widget.can_add_related = widget.can_change_related = widget.can_delete_related = False
            widget.can_view_related = False
        return formfield


def _add_service_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    """A service's ValidationError on the form: by field where the form has that field, else on top."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        name = REASON_FIELD if field == "reason" else field
        form.add_error(name if name in form.fields else None, errors)


# --- The weekly schedule editor ----------------------------------------------------------------------------------

class CreatedByServiceMixin:
    """For rows one service creates while the add form is validated (so its refusals show as form errors): the
    form keeps the created row in ``created_attribute``; an existing row is read-only and never deleted here."""

    created_attribute: str

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_form(self, request, form, change):
        return getattr(form, self.created_attribute)

    def save_model(self, request, obj, form, change):
        """Already written by the service during validation."""

    def save_related(self, request, form, formsets, change):
        """Nothing more to save."""


class ScheduleRulesWidget(forms.Widget):
    """Rows of weekdays, from, to, mode and overnight, plus a few empty rows for new rules. No JSON in sight."""

    blank_rows = 3

    def render(self, name, value, attrs=None, renderer=None):
        rows = [row for row in (value or []) if isinstance(row, dict)] + [{}] * self.blank_rows
        modes = [("", "—"), *MODE_SHORT.items()]
        body = []
        for number, row in enumerate(rows):
            prefix = f"{name}-{number}"
            chosen = {str(day) for day in row.get("weekdays") or []}
            # The admin's aligned forms make every label a 160 px block; these sit in one line with their boxes.
            days = format_html_join(
                "", '<label style="{}"><input type="checkbox" name="{}-weekdays" value="{}"{}> {}</label>',
                ((DAY_LABEL_STYLE, prefix, day, mark_safe(" checked") if str(day) in chosen else "",
                  WEEKDAY_SHORT[day]) for day in range(7)))
            options = format_html_join("", '<option value="{}"{}>{}</option>', (
                (value_, mark_safe(" selected") if value_ == (row.get("mode") or "") else "", label)
                for value_, label in modes))
            body.append(format_html(
                '<tr><td>{}</td>'
                '<td><input type="time" name="{}-start" value="{}" step="60"></td>'
                '<td><input type="time" name="{}-end" value="{}" step="60"></td>'
                '<td><select name="{}-mode" style="width: auto">{}</select></td>'
                '<td><input type="checkbox" name="{}-overnight" value="1"{}></td></tr>',
                days, prefix, row.get("start") or "", prefix, row.get("end") or "", prefix, options, prefix,
                mark_safe(" checked") if row.get("overnight") else ""))
        return format_html(
            '<div class="schedule-editor" id="{}"><table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th>'
            '<th>{}</th></tr></thead><tbody>{}</tbody></table>'
            '<input type="hidden" name="{}-rows" value="{}"></div>',
            (attrs or {}).get("id", f"id_{name}"), _("Weekdays"), _("From"), _("To"), _("Mode"), _("Overnight"),
            mark_safe("".join(body)), name, len(rows))

    def value_from_datadict(self, data, files, name):
        try:
            count = min(int(data.get(f"{name}-rows", 0)), MAX_RULES)
        except (TypeError, ValueError):
            count = 0
        rows = []
        for number in range(count):
            prefix = f"{name}-{number}"
            days = data.getlist(f"{prefix}-weekdays") if hasattr(data, "getlist") else data.get(f"{prefix}-weekdays")
            rows.append({"weekdays": list(days or []), "start": (data.get(f"{prefix}-start") or "").strip(),
                         "end": (data.get(f"{prefix}-end") or "").strip(),
                         "mode": (data.get(f"{prefix}-mode") or "").strip(),
                         "overnight": bool(data.get(f"{prefix}-overnight"))})
        return rows

    def value_omitted_from_data(self, data, files, name):
        return f"{name}-rows" not in data


class ScheduleRulesField(forms.Field):
    """The editor's rows as ``charging.access.ScheduleRule``s; an empty row is left out, a partly filled one is an
    error naming its row number."""

    widget = ScheduleRulesWidget
    default_error_messages = {
        "row": gettext_lazy("Rule %(row)d: %(message)s"),
        "days": gettext_lazy("tick at least one weekday."),
        "time": gettext_lazy("give the time as HH:MM, e.g. 06:00."),
        "mode": gettext_lazy("choose a mode."),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def _row_error(self, number: int, message: str) -> ValidationError:
        return ValidationError(self.error_messages["row"] % {"row": number, "message": message}, code="row")

    def _clock(self, number: int, text: str) -> time:
        try:
            value = time.fromisoformat(text)
        except ValueError:
            raise self._row_error(number, str(self.error_messages["time"])) from None
        return value.replace(second=0, microsecond=0)

    def to_python(self, value):
        rules, errors = [], []
        for number, row in enumerate(value or [], start=1):
            if not (row.get("weekdays") or row.get("start") or row.get("end") or row.get("mode")):
                continue
            try:
                if not row.get("weekdays"):
                    raise self._row_error(number, str(self.error_messages["days"]))
                try:
                    days = frozenset(int(day) for day in row["weekdays"])
                except (TypeError, ValueError):
                    raise self._row_error(number, str(self.error_messages["days"])) from None
                start, end = self._clock(number, row.get("start") or ""), self._clock(number, row.get("end") or "")
                if not row.get("mode"):
                    raise self._row_error(number, str(self.error_messages["mode"]))
                try:
                    rules.append(access.ScheduleRule(days, start, end, row["mode"],
                                                     overnight=bool(row.get("overnight"))))
                except access.ScheduleError as exc:
                    raise self._row_error(number, access_services.schedule_error_message(exc)) from exc
            except ValidationError as exc:
                errors.append(exc)
        if errors:
            raise ValidationError(errors)
        return tuple(rules)

    def has_changed(self, initial, data):
        try:
            rules = self.to_python(data)
        except ValidationError:
            return True
        return [access.rule_to_data(rule) for rule in rules] != list(initial or [])


class AccessSettingsForm(forms.ModelForm):
    schedule = ScheduleRulesField(
        label=gettext_lazy("Weekly schedule"),
        help_text=gettext_lazy("In the site's local time. A rule's end is not included; 00:00 as the end means "
                               "midnight. Tick Overnight for a rule that runs past midnight (22:00–06:00). Outside "
                               "every rule the mode above applies. Clear a row to remove its rule."))
    groups = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Allowed user groups"), queryset=UserGroup.objects.none(), required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("While the station is private, only members of these groups may charge. None "
                               "ticked: every member of the owner."))

    class Meta:
        model = ChargePointAccess
        fields = ["access_mode"]
        labels = {"access_mode": gettext_lazy("Mode outside the schedule")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        charge_point = self.instance
        self.fields["groups"].queryset = UserGroup.objects.filter(organization_id=charge_point.organization_id)
        self.fields["groups"].label_from_instance = lambda group: group.name  # all of the station's organization
        self.fields["schedule"].initial = list(charge_point.access_schedule or [])
        self.fields["groups"].initial = list(charge_point.allowed_groups.values_list("pk", flat=True))

    def clean(self):
        data = super().clean()
        mode, rules = data.get("access_mode"), data.get("schedule")
        if mode and rules is not None:
            try:
                access.WeeklySchedule(default_mode=mode, rules=rules,
                                      time_zone=selectors.time_zone_of(self.instance))
            except access.ScheduleError as exc:
                self.add_error("schedule", access_services.schedule_error_message(exc))
        return data


class EvseAccessForm(forms.ModelForm):
    access_mode = forms.ChoiceField(label=gettext_lazy("Mode"), required=False,
                                    choices=[("", gettext_lazy("As the charge point")),
                                             *ChargePoint.AccessMode.choices])

    class Meta:
        model = Evse
        fields = ["access_mode"]


class EvseAccessInline(TenantScopedInline):
    """Each EVSE's own mode, public code, start-page address and QR code (shown and downloadable)."""

    model = Evse
    form = EvseAccessForm
    organization_field = "charge_point__organization"
    fk_name = "charge_point"
    extra = 0
    can_delete = False
    verbose_name_plural = gettext_lazy("EVSEs: mode, public code and QR code")
    fields = ["evse_id", "access_mode", "public_code", "start_page", "qr_code"]
    readonly_fields = ["evse_id", "public_code", "start_page", "qr_code"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # EVSE rows here belong to the access settings page: its permissions apply, not the EVSE admin's.
    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("charging.change_chargepointaccess")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("charging.view_chargepointaccess") or self.has_change_permission(request, obj)

    @admin.display(description=gettext_lazy("start page"))
    def start_page(self, evse):
        return selectors.start_url(evse) if evse.pk else ""

    @admin.display(description=gettext_lazy("QR code"))
    def qr_code(self, evse):
        if not evse.pk:
            return ""
        url = reverse("admin:charging_chargepointaccess_qr", args=[evse.charge_point_id, evse.pk])
        svg = mark_safe(selectors.qr_svg(evse, scale=2, inline=True))  # generated markup, no user input
        return format_html('{}<br><a href="{}" download>{}</a>', svg, url, _("Download SVG"))


@admin.register(ChargePointAccess)
class ChargePointAccessAdmin(AuditedAdmin):
    """One page per charge point for who may charge when."""

    form = AccessSettingsForm
    inlines = [EvseAccessInline]
    list_display = ["name", "organization", "mode_outside_schedule", "mode_in_force", "access_mode_since",
                    "schedule_summary", "group_names"]
    list_filter = ["current_access_mode", "access_mode"]
    search_fields = ["identity", "display_name", "organization__name"]
    list_select_related = ["organization"]
    readonly_fields = ["station", "mode_now", "next_change"]
    fieldsets = [
        (None, {"fields": ["station", "mode_now", "next_change"]}),
        (gettext_lazy("Who may charge"), {"fields": ["access_mode", "schedule", "groups"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("allowed_groups")

    def history_targets(self, obj):
        return [(Evse, list(obj.evses.values_list("pk", flat=True)))]

    def has_add_permission(self, request):
        return False  # stations are registered on the charge point pages

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [path("<path:object_id>/qr/<int:evse_pk>/", self.admin_site.admin_view(self.qr_view),
                     name="charging_chargepointaccess_qr"), *super().get_urls()]

    def qr_view(self, request, object_id, evse_pk):
        charge_point = self.get_object(request, object_id)
        if charge_point is None:
            raise Http404
        if not self.has_view_permission(request, charge_point):
            raise PermissionDenied
        evse = charge_point.evses.filter(pk=evse_pk).first()
        if evse is None:
            raise Http404
        response = HttpResponse(selectors.qr_svg(evse, scale=8), content_type="image/svg+xml")
        response["Content-Disposition"] = f'attachment; filename="qr-{evse.public_code}.svg"'
        return response

    @admin.display(description=gettext_lazy("charge point"), ordering="identity")
    def name(self, obj):
        return str(obj)

    @admin.display(description=gettext_lazy("mode"), ordering="access_mode")
    def mode_outside_schedule(self, obj):
        return MODE_SHORT.get(obj.access_mode, obj.access_mode)

    @admin.display(description=gettext_lazy("mode now"), ordering="current_access_mode")
    def mode_in_force(self, obj):
        return MODE_SHORT.get(obj.current_access_mode, obj.current_access_mode)

    @admin.display(description=gettext_lazy("charge point"))
    def station(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:charging_chargepoint_change", args=[obj.pk]), obj)

    @admin.display(description=gettext_lazy("mode now"))
    def mode_now(self, obj):
        mode = selectors.charge_point_mode(obj, timezone.now())
        return ChargePoint.AccessMode(mode.value).label

    @admin.display(description=gettext_lazy("next switch"))
    def next_change(self, obj):
        change = selectors.next_mode_change(obj, timezone.now())
        if change is None:
            return _("None: the mode does not change.")
        at, mode = change
        return _("%(when)s to %(mode)s") % {"when": f"{timezone.localtime(at):%Y-%m-%d %H:%M}",
                                             "mode": ChargePoint.AccessMode(mode.value).label}

    @admin.display(description=gettext_lazy("schedule"))
    def schedule_summary(self, obj):
        rules = obj.access_schedule or []
        return "; ".join(
            f"{' '.join(str(WEEKDAY_SHORT[d]) for d in rule['weekdays'])} {rule['start']}–{rule['end']} "
            f"{MODE_SHORT.get(rule['mode'], rule['mode'])}" for rule in rules) or "—"

    @admin.display(description=gettext_lazy("allowed user groups"))
    def group_names(self, obj):
        return ", ".join(group.name for group in obj.allowed_groups.all()) or "—"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        access_services.charge_point_access_set(
            charge_point=obj, mode=data["access_mode"], rules=data["schedule"], allowed_groups=data["groups"],
            acting_user=request.user, reason=data[REASON_FIELD], now=timezone.now())

    def save_related(self, request, form, formsets, change):
        reason = form.cleaned_data.get(REASON_FIELD, "")
        for formset in formsets:
            for evse_form in formset.forms:
                if evse_form.instance.pk and evse_form.has_changed():
                    access_services.evse_access_mode_set(evse=evse_form.instance,
                                                         mode=evse_form.cleaned_data.get("access_mode") or "",
                                                         acting_user=request.user, reason=reason)
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


# --- Bookings ----------------------------------------------------------------------------------------------------

class BookingForm(forms.ModelForm):
    request = None

    class Meta:
        model = Booking
        fields = ["evse", "user", "id_token", "starts_at", "ends_at"]

    def _post_clean(self):
        super()._post_clean()
        if self._errors:
            return
        data = self.cleaned_data
        try:
            self.booking = booking_services.booking_create(
                evse=data["evse"], user=data["user"], id_token=data.get("id_token"), starts_at=data["starts_at"],
                ends_at=data["ends_at"], acting_user=self.request.user, reason=data.get(REASON_FIELD, ""),
                now=timezone.now())
        except ValidationError as exc:
            _add_service_errors(self, exc)


def _cancel_booking(booking, request, reason):
    result = booking_services.booking_cancel(booking=booking, acting_user=request.user, reason=reason,
                                             now=timezone.now())
    if result.released is None:
        return None
    if result.released:
        return _("%(booking)s: the charger released its reservation.") % {"booking": booking}
    return _("%(booking)s: cancelled, but the charger still holds the reservation (%(why)s).") % {
        "booking": booking, "why": result.error}


@admin.register(Booking)
class BookingAdmin(CreatedByServiceMixin, PlainRelatedFieldsMixin, ChargingChoicesMixin, AuditedAdmin):
    form = BookingForm
    organization_field = "evse__charge_point__organization"
    list_display = ["evse", "user", "starts_at", "ends_at", "status", "reservation_status", "created_by"]
    list_filter = ["status"]
    date_hierarchy = "starts_at"
    search_fields = ["user__email", "user__first_name", "user__last_name", "evse__charge_point__identity",
                     "evse__charge_point__display_name", "evse__public_code"]
    list_select_related = ["evse__charge_point", "user", "reservation", "created_by"]
    autocomplete_fields = ["evse", "user", "id_token"]
    actions = ["cancel_bookings"]
    fields = ["evse", "user", "id_token", "starts_at", "ends_at", REASON_FIELD]
    view_fields = ["evse", "user", "id_token", "starts_at", "ends_at", "status", "reservation", "session",
                   "created_by", "created_at", "ended_at", "cancelled_by", "cancel_reason"]

    cancel_bookings = action_with_reason(description=gettext_lazy("Cancel the selected bookings"),
                                         permissions=["change"], apply=_cancel_booking)

    @admin.display(description=gettext_lazy("reservation on the charger"))
    def reservation_status(self, obj):
        return obj.reservation.get_status_display() if obj.reservation_id else "—"

    def get_fields(self, request, obj=None):
        return self.fields if obj is None else self.view_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.view_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        return _with_request(super().get_form(request, obj, change=change, **kwargs), request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "id_token":
            kwargs["queryset"] = id_tokens_visible_to(request.user).filter(user__isnull=False)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # Bookings are made (booking_create) and cancelled, never edited.
    created_attribute = "booking"


@admin.register(BookingPolicy)
class BookingPolicyAdmin(PlainRelatedFieldsMixin, AuditedAdmin):
    list_display = ["organization", "enabled", "max_duration_minutes", "max_active_per_user",
                    "no_show_grace_minutes", "max_days_ahead"]
    list_filter = ["enabled"]
    search_fields = ["organization__name"]
    autocomplete_fields = ["organization"]
    list_select_related = ["organization"]

    def get_readonly_fields(self, request, obj=None):
        return ["organization"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # switch bookings off instead


# --- Charging keys -----------------------------------------------------------------------------------------------

class ChargingKeyForm(forms.ModelForm):
    request = None
    organization = forms.ModelChoiceField(label=gettext_lazy("Organization"), queryset=None)
    code = forms.CharField(label=gettext_lazy("Key code"), required=False, max_length=20,
                           help_text=gettext_lazy("4 to 20 letters or digits. Empty: a random 8-character code."))
    valid_until = forms.SplitDateTimeField(label=gettext_lazy("Valid until"), widget=AdminSplitDateTime)

    class Meta:
        model = ChargingKey
        fields = ["guest_name", "guest_contact", "valid_from", "charge_points", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations_visible_to(self.request.user)
        self.fields["charge_points"].queryset = scope(ChargePoint.objects.all(), self.request.user)

    def _post_clean(self):
        super()._post_clean()
        if self._errors:
            return
        data = self.cleaned_data
        try:
            self.key = access_services.charging_key_issue(
                organization=data["organization"], guest_name=data["guest_name"],
                guest_contact=data.get("guest_contact", ""), valid_from=data["valid_from"],
                valid_until=data["valid_until"], charge_points=data.get("charge_points") or [],
                code=data.get("code", ""), note=data.get("note", ""), acting_user=self.request.user,
                reason=data.get(REASON_FIELD, ""), now=timezone.now())
        except ValidationError as exc:
            _add_service_errors(self, exc)


def _revoke_key(key, request, reason):
    access_services.charging_key_revoke(key=key, acting_user=request.user, reason=reason, now=timezone.now())


@admin.register(ChargingKey)
class ChargingKeyAdmin(CreatedByServiceMixin, PlainRelatedFieldsMixin, AuditedAdmin):
    form = ChargingKeyForm
    organization_field = "id_token__organization"
    list_display = ["code", "guest_name", "organization", "valid_from", "valid_until", "token_status",
                    "stations", "issued_by", "issued_at"]
    list_filter = ["id_token__status"]
    search_fields = ["id_token__uid", "guest_name", "guest_contact", "id_token__organization__name"]
    list_select_related = ["id_token__organization", "issued_by"]
    autocomplete_fields = ["charge_points"]
    actions = ["revoke_keys"]
    fields = ["organization", "guest_name", "guest_contact", "code", "valid_from", "valid_until", "charge_points",
              "note", REASON_FIELD]
    view_fields = ["code", "organization", "guest_name", "guest_contact", "valid_from", "valid_until",
                   "token_status", "stations", "note", "issued_by", "issued_at"]

    revoke_keys = action_with_reason(description=gettext_lazy("Revoke the selected keys"), permissions=["change"],
                                     apply=_revoke_key)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("charge_points")

    @admin.display(description=gettext_lazy("key code"), ordering="id_token__uid")
    def code(self, obj):
        return obj.id_token.uid

    @admin.display(description=gettext_lazy("organization"), ordering="id_token__organization__name")
    def organization(self, obj):
        return obj.id_token.organization

    @admin.display(description=gettext_lazy("valid until"), ordering="id_token__valid_until")
    def valid_until(self, obj):
        return obj.id_token.valid_until

    @admin.display(description=gettext_lazy("status"))
    def token_status(self, obj):
        return obj.id_token.get_status_display()

    @admin.display(description=gettext_lazy("charge points"))
    def stations(self, obj):
        return ", ".join(str(cp) for cp in obj.charge_points.all()) or _("All of the organization's")

    def get_fields(self, request, obj=None):
        return self.fields if obj is None else self.view_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.view_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        return _with_request(super().get_form(request, obj, change=change, **kwargs), request)

    # Keys are issued (charging_key_issue) and revoked, never edited.
    created_attribute = "key"

