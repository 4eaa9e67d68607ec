"""Alarm pages: the alarm list (open alarms first, acknowledge with a comment, one by one or in bulk), the
notification groups that are e-mailed when alarms open, what was sent to them, and the connect/disconnect
history of every station. Alarms, notifications and connection events are written by services only; here they
are read-only, except for acknowledging."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin_base import AuditedAdmin, TenantScopedAdmin, TenantScopedInline
from accounts.selectors import organizations_visible_to
from accounts.tenancy import organizations_seen_by, scope
from charging.admin.base import ReadOnlyAdminMixin
from charging.models import Alarm, AlarmNotification, ChargePoint, ConnectionEvent, Location, NotificationGroup
from charging.services import alarms as alarm_services
from charging.services import notifications


class AcknowledgeForm(forms.Form):
    comment = forms.CharField(
        label=gettext_lazy("Comment"), max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("What is being done about it, e.g. \"Technician booked for Tuesday, ticket 4411\". "
                               "Stored with the alarm and in the audit log."))

    def clean_comment(self):
        comment = self.cleaned_data["comment"].strip()
        if not comment:
            raise ValidationError(_("Say what is being done about the alarm."))
        return comment


class OpenClosedFilter(admin.SimpleListFilter):
    """Open alarms unless the person asks for closed ones (or all): the list is a to-do list."""

    title = gettext_lazy("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", _("Open")), ("closed", _("Closed")), ("all", _("All"))]

    def queryset(self, request, queryset):
        value = self.value() or "open"
        if value == "open":
            return queryset.filter(closed_at__isnull=True)
        if value == "closed":
            return queryset.filter(closed_at__isnull=False)
        return queryset

    def choices(self, changelist):
        # No blank "All" entry: no parameter means "open" here; "all" is an explicit choice.
        current = self.value() or "open"
        for value, label in self.lookup_choices:
            yield {"selected": current == value, "display": label,
                   "query_string": changelist.get_query_string({self.parameter_name: value})}


class AcknowledgedFilter(admin.SimpleListFilter):
    title = gettext_lazy("acknowledged")
    parameter_name = "acknowledged"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(acknowledged_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(acknowledged_at__isnull=True)
        return queryset


class AlarmNotificationInline(ReadOnlyAdminMixin, TenantScopedInline):
    model = AlarmNotification
    organization_field = "group__organization"
    extra = 0
    fields = ["at", "group", "recipients", "suppressed"]
    readonly_fields = fields
    verbose_name_plural = gettext_lazy("e-mails to notification groups")


@admin.register(Alarm)
class AlarmAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    """Alarms are opened and closed by what the stations report; people only acknowledge them."""

    organization_field = "charge_point__organization"
    list_display = ["opened_at", "charge_point", "evse", "kind", "severity", "message", "is_open", "acknowledged_by",
                    "acknowledged_at"]
    list_filter = [OpenClosedFilter, "kind", "severity", AcknowledgedFilter,
                   ("charge_point__organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["charge_point__identity", "charge_point__display_name", "charge_point__serial_number"]
    list_select_related = ["charge_point", "acknowledged_by"]
    fieldsets = [
        (None, {"fields": ["charge_point", "evse_number", "kind", "severity", "message", "details"]}),
        (gettext_lazy("Open / closed"), {"fields": ["opened_at", "closed_at", "close_reason"]}),
        (gettext_lazy("Acknowledgement"), {"fields": ["acknowledged_at", "acknowledged_by", "acknowledgement"]}),
    ]
    inlines = [AlarmNotificationInline]
    actions = ["acknowledge"]
    change_form_template = "admin/charging/alarm/change_form.html"

    def has_acknowledge_permission(self, request, obj=None):
        return request.user.has_perm("charging.change_alarm")

    @admin.display(description=gettext_lazy("EVSE"), ordering="evse_number")
    def evse(self, obj):
        return obj.evse_number or _("station")

    @admin.display(description=gettext_lazy("open"), boolean=True, ordering="closed_at")
    def is_open(self, obj):
        return obj.is_open

    # --- acknowledging ------------------------------------------------------------------------------------------
    @admin.action(description=gettext_lazy("Acknowledge the selected alarms"), permissions=["acknowledge"])
    def acknowledge(self, request: HttpRequest, queryset):
        form = AcknowledgeForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = sum(self._acknowledge(request, alarm, form.cleaned_data["comment"]) for alarm in queryset)
            if done:
                self.message_user(request, _("%(count)d alarm(s) acknowledged.") % {"count": done}, messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Acknowledge alarms"),
            "opts": self.model._meta,
            "queryset": queryset,
            "form": form,
            "action_name": "acknowledge",
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "selected": [str(pk) for pk in queryset.values_list("pk", flat=True)],
        }
        return TemplateResponse(request, "admin/action_with_reason.html", context)

    def _acknowledge(self, request: HttpRequest, alarm: Alarm, comment: str) -> bool:
        try:
            alarm_services.alarm_acknowledge(alarm=alarm, comment=comment, acting_user=request.user,
                                             at=timezone.now())
        except ValidationError as exc:
            self.message_user(request, f"{alarm}: {' '.join(exc.messages)}", messages.WARNING)
            return False
        return True

    def get_urls(self):
        return [
            path("<path:object_id>/acknowledge/", self.admin_site.admin_view(self.acknowledge_view),
                 name="charging_alarm_acknowledge"),
            *super().get_urls(),
        ]

    def acknowledge_view(self, request: HttpRequest, object_id: str):
        """The Acknowledge form on an alarm's own page posts here."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        alarm = self.get_object(request, object_id)  # tenant-scoped: another organization's alarm is a 404
        if alarm is None:
            raise Http404(_("No such alarm."))
        if not self.has_acknowledge_permission(request, alarm):
            raise PermissionDenied
        form = AcknowledgeForm(request.POST)
        if not form.is_valid():
            self.message_user(request, _("Not acknowledged: %(errors)s") % {
                "errors": " ".join(form.errors["comment"])}, messages.ERROR)
        elif self._acknowledge(request, alarm, form.cleaned_data["comment"]):
            self.message_user(request, _("%(alarm)s acknowledged.") % {"alarm": alarm}, messages.SUCCESS)
        return redirect("admin:charging_alarm_change", alarm.pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        alarm = self.get_object(request, object_id)
        can_acknowledge = (alarm is not None and alarm.acknowledged_at is None
                           and self.has_acknowledge_permission(request, alarm))
        context = {"acknowledge_form": AcknowledgeForm() if can_acknowledge else None, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context=context)


class NotificationGroupForm(forms.ModelForm):
    kinds = forms.MultipleChoiceField(
        label=gettext_lazy("alarm kinds"), choices=Alarm.Kind.choices, required=False,
        widget=forms.CheckboxSelectMultiple, help_text=gettext_lazy("None ticked: every kind."))

    class Meta:
        model = NotificationGroup
        fields = ["name", "organization", "is_active", "emails", "kinds", "min_severity", "charge_points",
                  "locations", "organizations"]
        widgets = {"emails": forms.Textarea(attrs={"rows": 4, "cols": 60})}

    def clean_emails(self):
        valid, invalid = notifications.parse_addresses(self.cleaned_data["emails"])
        if invalid:
            raise ValidationError(_("Not e-mail addresses: %(bad)s") % {"bad": ", ".join(invalid)})
        if not valid:
            raise ValidationError(_("Give at least one e-mail address."))
        return "\n".join(valid)

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization")
        if organization is None:
            return cleaned
        seen = organizations_seen_by(organization)
        if seen is None:
            return cleaned
        seen_ids = set(seen.values_list("pk", flat=True))
        owners = {
            "charge_points": lambda cp: cp.organization_id,
            "locations": lambda location: location.organization_id,
            "organizations": lambda owner: owner.pk,
        }
        for field, owner_of in owners.items():
            outside = [str(obj) for obj in cleaned.get(field) or [] if owner_of(obj) not in seen_ids]
            if outside:
                self.add_error(field, _("%(org)s may not see: %(rows)s") % {
                    "org": organization, "rows": ", ".join(outside)})
        return cleaned


@admin.register(NotificationGroup)
class NotificationGroupAdmin(AuditedAdmin):
    form = NotificationGroupForm
    list_display = ["name", "organization", "kinds_display", "min_severity", "recipient_count", "is_active"]
    list_filter = ["is_active", "min_severity", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "emails", "organization__name"]
    list_select_related = ["organization"]
    # Autocomplete, not a two-pane list: support may see 50 000 stations. The search behind it is the station
    # list's own (tenant-scoped) search.
    autocomplete_fields = ["charge_points", "locations", "organizations"]
    fieldsets = [
        (None, {"fields": ["name", "organization", "is_active", "emails"]}),
        (gettext_lazy("Which alarms"), {"fields": ["kinds", "min_severity"]}),
        (gettext_lazy("Which stations"), {
            "fields": ["charge_points", "locations", "organizations"],
            "description": gettext_lazy("Name stations directly, by site or by owner. Name none of them to cover "
                                        "every station the managing organization may see.")}),
    ]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        # Only what the person may see is offered, and so only that is accepted on save.
        if db_field.name == "charge_points":
            kwargs["queryset"] = scope(ChargePoint.objects.all(), request.user).order_by("identity")
        elif db_field.name == "locations":
            kwargs["queryset"] = scope(Location.objects.select_related("organization"), request.user)
        elif db_field.name == "organizations":
            kwargs["queryset"] = organizations_visible_to(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description=gettext_lazy("alarm kinds"))
    def kinds_display(self, obj):
        labels = dict(Alarm.Kind.choices)
        return ", ".join(str(labels.get(kind, kind)) for kind in obj.kinds) if obj.kinds else _("All")

    @admin.display(description=gettext_lazy("addresses"))
    def recipient_count(self, obj):
        return len(notifications.parse_addresses(obj.emails)[0])


@admin.register(AlarmNotification)
class AlarmNotificationAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    organization_field = "group__organization"
    list_display = ["at", "alarm", "group", "kind", "recipients", "suppressed"]
    list_filter = ["suppressed", "kind"]
    search_fields = ["charge_point__identity", "charge_point__display_name", "group__name", "recipients"]
    date_hierarchy = "at"
    list_select_related = ["alarm__charge_point", "group"]

    def get_queryset(self, request):
        # The group's organization and the station's owner must both be visible: neither a board's stations in an
        # operator group's mail, nor another tenant's station, shows up.
        return scope(super().get_queryset(request), request.user, "charge_point__organization")


@admin.register(ConnectionEvent)
class ConnectionEventAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    organization_field = "charge_point__organization"
    list_display = ["at", "charge_point", "kind", "detail"]
    list_filter = ["kind"]
    search_fields = ["charge_point__identity", "charge_point__display_name", "detail"]
    date_hierarchy = "at"
    list_select_related = ["charge_point"]
