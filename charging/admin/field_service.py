"""Field service pages: service tickets (opened and changed through charging.services.field_service, audited with
the reason given) and maintenance plans (with a due-date filter and a "Mark done today" action)."""

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.admin_base import REASON_FIELD, AuditedAdmin, action_with_reason
from accounts.tenancy import scope
from charging.admin.base import ChargingChoicesMixin
from charging.models import Alarm, MaintenancePlan, ServiceTicket
from charging.services import field_service

_TICKET_ADD_FIELDS = ["charge_point", "alarm", "problem", "remote_attempts", "technician", "visit_on"]
_TICKET_CHANGE_FIELDS = ["charge_point", "alarm", "problem", "status", "remote_attempts", "technician", "visit_on",
                         "on_site_action", "parts", "warranty", "cost", "documentation", "attachment", "opened_by",
                         "opened_at", "resolved_at"]
_TICKET_READONLY = ["charge_point", "opened_by", "opened_at", "resolved_at"]
_TICKET_FORM_FIELDS = [name for name in _TICKET_CHANGE_FIELDS if name not in _TICKET_READONLY or name == "charge_point"]


class ServiceTicketForm(forms.ModelForm):
    """Offers only the statuses the ticket may move to, and checks the alarm belongs to the station."""

    class Meta:
        model = ServiceTicket
        fields = _TICKET_FORM_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        status = self.fields.get("status")
        if status is not None and self.instance.pk is not None:
            current = self.instance.status
            allowed = field_service.ALLOWED_TRANSITIONS[current] | {current}
            status.choices = [(value, label) for value, label in ServiceTicket.Status.choices if value in allowed]

    def clean_status(self):
        new = self.cleaned_data["status"]
        if self.instance.pk is not None and not field_service.status_change_allowed(self.instance.status, new):
            raise forms.ValidationError(_("A ticket cannot go from “%(old)s” to “%(new)s”.") % {
                "old": self.instance.get_status_display(), "new": ServiceTicket.Status(new).label})
        return new

    def clean(self):
        data = super().clean()
        alarm = data.get("alarm")
        charge_point_id = data["charge_point"].pk if data.get("charge_point") else self.instance.charge_point_id
        if alarm is not None and charge_point_id is not None and alarm.charge_point_id != charge_point_id:
            self.add_error("alarm", _("The alarm belongs to another charge point."))
        return data


@admin.register(ServiceTicket)
class ServiceTicketAdmin(ChargingChoicesMixin, AuditedAdmin):
    organization_field = "charge_point__organization"
    form = ServiceTicketForm
    list_display = ["id", "opened_at", "charge_point", "status", "technician", "visit_on", "on_site_action",
                    "warranty", "cost", "resolved_at"]
    list_display_links = ["id", "opened_at"]
    list_filter = ["status", "warranty", "on_site_action"]
    search_fields = ["=id", "charge_point__identity", "charge_point__display_name", "charge_point__serial_number",
                     "charge_point__organization__name", "problem", "technician"]
    date_hierarchy = "opened_at"
    list_select_related = ["charge_point"]
    autocomplete_fields = ["charge_point"]
    raw_id_fields = ["alarm"]

    def get_fields(self, request, obj=None):
        return _TICKET_ADD_FIELDS if obj is None else _TICKET_CHANGE_FIELDS

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else _TICKET_READONLY

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Alarm:
            kwargs["queryset"] = scope(Alarm.objects.all(), request.user, "charge_point__organization")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        # A closed ticket is the record of what happened: view only.
        if obj is not None and obj.status == ServiceTicket.Status.CLOSED:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data, reason = form.cleaned_data, form.cleaned_data[REASON_FIELD]
        if not change:
            ticket = field_service.service_ticket_open(
                charge_point=data["charge_point"], problem=data["problem"], alarm=data.get("alarm"),
                acting_user=request.user, reason=reason,
                **{name: data[name] for name in field_service.OPEN_FIELDS if name in data})
            obj.pk, obj.opened_at, obj.opened_by = ticket.pk, ticket.opened_at, ticket.opened_by
            return
        changes = {name: data[name] for name in form.changed_data if name in field_service.UPDATE_FIELDS}
        field_service.service_ticket_update(ticket=obj, changes=changes, acting_user=request.user, reason=reason)


class MaintenanceDueFilter(admin.SimpleListFilter):
    title = gettext_lazy("due")
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("overdue", _("Overdue")), ("soon", _("Due within 30 days")), ("later", _("Later"))]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "overdue":
            return queryset.filter(next_due_on__lt=today)
        if self.value() == "soon":
            return queryset.filter(next_due_on__gte=today, next_due_on__lte=today + timedelta(days=30))
        if self.value() == "later":
            return queryset.filter(next_due_on__gt=today + timedelta(days=30))
        return queryset


def _mark_done_today(plan, request, reason):
    plan = field_service.maintenance_done(plan=plan, done_on=timezone.localdate(), acting_user=request.user,
                                          reason=reason)
    return _("%(plan)s: next maintenance %(due)s.") % {"plan": plan.charge_point, "due": plan.next_due_on}


@admin.register(MaintenancePlan)
class MaintenancePlanAdmin(ChargingChoicesMixin, AuditedAdmin):
    organization_field = "charge_point__organization"
    list_display = ["charge_point", "owner", "interval_months", "last_done_on", "next_due_on", "due_in",
                    "technician"]
    list_filter = [MaintenanceDueFilter]
    search_fields = ["charge_point__identity", "charge_point__display_name", "charge_point__serial_number",
                     "charge_point__organization__name", "technician"]
    list_select_related = ["charge_point__organization"]
    autocomplete_fields = ["charge_point"]
    actions = ["mark_done_today"]

    mark_done_today = action_with_reason(description=gettext_lazy("Mark done today"), permissions=["change"],
                                         apply=_mark_done_today)

    def get_fields(self, request, obj=None):
        fields = ["charge_point", "interval_months", "next_due_on", "technician", "notes"]
        return fields if obj is None else [*fields[:2], "last_done_on", *fields[2:]]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["charge_point", "last_done_on"]

    @admin.display(description=gettext_lazy("owner"), ordering="charge_point__organization__name")
    def owner(self, plan):
        return plan.charge_point.organization

    @admin.display(description=gettext_lazy("due in"), ordering="next_due_on")
    def due_in(self, plan):
        days = (plan.next_due_on - timezone.localdate()).days
        if days < 0:
            return ngettext("overdue by %(n)d day", "overdue by %(n)d days", -days) % {"n": -days}
        return ngettext("in %(n)d day", "in %(n)d days", days) % {"n": days}

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        plan = field_service.maintenance_plan_set(
            charge_point=obj.charge_point, interval_months=data["interval_months"], next_due_on=data["next_due_on"],
            technician=data.get("technician", ""), notes=data.get("notes", ""), acting_user=request.user,
            reason=data[REASON_FIELD])
        obj.pk = plan.pk
