"""Billing admin: tariffs, tariff assignments (with the price preview), spot prices per area and day, spot price
gaps, and what priced sessions cost; resident invoices (read-only: the run and the services write them; filters for
status, kind, overdue as dunning defines it, association and period; actions credit, resend, record a manual payment,
unblock the tags dunning blocked and resend the newest reminder, each with a reason), their series and the
associations' recurring fees; payments (read-only, by kind), BgMax imports (operator staff upload a file), the
payment matching queue (action "Apply to invoice…"), Stripe events and customers, Swish payment requests, and the
dunning overview.

Tariffs and assignments are tenant-scoped through their owner and every change goes through
billing.services.tariffs with the reason given (audited); the notice rule's refusal appears as a form error before
anything is written. Spot prices are public market data, read-only; their gaps are support's list.
"""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin_base import (
    REASON_FIELD,
    AuditedAdmin,
    ReadOnlyAdminMixin,
    TenantScopedAdmin,
    TenantScopedInline,
    action_with_reason,
)
from accounts.models import User, UserGroup
from accounts.selectors import users_visible_to
from accounts.tenancy import can_manage, is_operator_staff, scope
from billing import pricing
from billing.admin_documents import PeriodFilter
from billing.bgmax import BgmaxError
from billing.models import (
    CURRENCY_CHOICES,
    Invoice,
    InvoiceLine,
    InvoiceSeries,
    Payment,
    PaymentImport,
    RecurringFee,
    Reminder,
    SessionCost,
    SpotPrice,
    SpotPriceGap,
    StripeCustomer,
    StripeEvent,
    SwishPaymentRequest,
    Tariff,
    TariffAssignment,
    UnmatchedPayment,
)
from billing.selectors import (
    effective_end,
    format_amount,
    price_preview,
    spot_day,
    tariffs_visible_to,
    with_effective_end,
)
from billing.services import dunning, invoicing, payments, spot_prices, tariffs
from charging.admin.base import ChargingChoicesMixin
from charging.models import ChargePoint, ChargingSession, Evse

_TARIFF_FIELDSETS = [
    (None, {"fields": ["organization", "name", "currency", "is_active"]}),
    (gettext_lazy("Fixed prices"), {"fields": ["energy_price_ac", "energy_price_dc", "time_price_per_minute",
                                               "free_minutes", "session_fee", "free"]}),
    (gettext_lazy("VAT"), {"fields": ["vat_mode", "vat_rate"]}),
    (gettext_lazy("Dynamic price (spot × multiplier + markup)"),
     {"fields": ["dynamic", "spot_multiplier", "spot_markup", "price_floor", "price_cap"]}),
]
_TARIFF_FORM_FIELDS = [name for _title, options in _TARIFF_FIELDSETS for name in options["fields"]]


def _form_error(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form's fields, the rest above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, errors in error.error_dict.items():
        form.add_error(name if name in form.fields else None, errors)


# --- Tariffs ------------------------------------------------------------------------------------------------------
class TariffForm(forms.ModelForm):
    """Runs the service's checks (currency fixed, the notice rule for price changes) as form validation."""

    class Meta:
        model = Tariff
        fields = _TARIFF_FORM_FIELDS

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if self.instance.pk is None:
            if data.get("dynamic") and data.get("currency") and not tariffs.has_fallback_spot_price(data["currency"]):
                self.add_error("dynamic", _("No fallback spot price is configured for %(currency)s "
                                            "(SPOT_FALLBACK_PRICE).") % {"currency": data["currency"]})
            return data
        changes = {name: data[name] for name in self.changed_data if name in tariffs.TARIFF_FIELDS | {"name"}}
        if changes:
            try:
                tariffs.tariff_update_check(tariff=self.instance, changes=changes, now=timezone.now())
            except ValidationError as error:
                _form_error(self, error)
        return data


class TariffAssignmentInline(TenantScopedInline):
    """Where the tariff applies (read-only: assignments are made and ended on their own pages)."""

    model = TariffAssignment
    organization_field = "organization"
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    fields = ["target", "level", "valid_from", "valid_until"]
    readonly_fields = fields
    verbose_name_plural = gettext_lazy("Assignments")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("target"))
    def target(self, assignment):
        return assignment.target_label()


@admin.register(Tariff)
class TariffAdmin(AuditedAdmin):
    form = TariffForm
    list_display = ["name", "organization", "currency", "energy_ac", "energy_dc", "time_price", "fee", "dynamic",
                    "free", "is_active"]
    list_filter = ["is_active", "dynamic", "free", "currency", "vat_mode"]
    search_fields = ["name", "organization__name"]
    list_select_related = ["organization"]
    autocomplete_fields = ["organization"]
    inlines = [TariffAssignmentInline]

    def get_readonly_fields(self, request, obj=None):
        return ["organization", "currency", "created_at", "updated_at"] if obj is not None else []

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(_TARIFF_FIELDSETS)
        if obj is not None:
            fieldsets.append((_("Record"), {"fields": ["created_at", "updated_at"]}))
        if self.has_change_permission(request, obj):
            fieldsets.append((_("Audit"), {"fields": [REASON_FIELD]}))
        return fieldsets

    def has_delete_permission(self, request, obj=None):
        # Tariffs stay for the sessions priced with them; deactivate instead.
        return False

    def history_targets(self, obj):
        return [(TariffAssignment, list(obj.assignments.values_list("pk", flat=True)))]

    @admin.display(description=gettext_lazy("energy AC / kWh"), ordering="energy_price_ac")
    def energy_ac(self, tariff):
        return format_amount(tariff.energy_price_ac, tariff.currency, unit_price=True)

    @admin.display(description=gettext_lazy("energy DC / kWh"), ordering="energy_price_dc")
    def energy_dc(self, tariff):
        return format_amount(tariff.energy_price_dc, tariff.currency, unit_price=True)

    @admin.display(description=gettext_lazy("time / min"), ordering="time_price_per_minute")
    def time_price(self, tariff):
        if not tariff.time_price_per_minute:
            return "–"
        return _("%(price)s after %(minutes)d min") % {
            "price": format_amount(tariff.time_price_per_minute, tariff.currency, unit_price=True),
            "minutes": tariff.free_minutes}

    @admin.display(description=gettext_lazy("session fee"), ordering="session_fee")
    def fee(self, tariff):
        return format_amount(tariff.session_fee, tariff.currency) if tariff.session_fee else "–"

    def save_model(self, request, obj, form, change):
        data, reason, now = form.cleaned_data, form.cleaned_data[REASON_FIELD], timezone.now()
        if not change:
            values = {name: data[name] for name in _TARIFF_FORM_FIELDS
                      if name in tariffs.TARIFF_FIELDS and name in data}
            created = tariffs.tariff_create(organization=data["organization"], name=data["name"],
                                            currency=data["currency"], acting_user=request.user, reason=reason,
                                            now=now, **values)
            obj.pk, obj.created_at = created.pk, created.created_at
            return
        changes = {name: data[name] for name in form.changed_data if name in tariffs.TARIFF_FIELDS | {"name"}}
        tariffs.tariff_update(tariff=obj, changes=changes, acting_user=request.user, reason=reason, now=now)

    def save_related(self, request, form, formsets, change):
        # The assignments inline is read-only: nothing of it is saved, and the change message lists nothing.
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


# --- Tariff assignments -------------------------------------------------------------------------------------------
class AssignmentStateFilter(admin.SimpleListFilter):
    title = gettext_lazy("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("in_force", _("In force")), ("scheduled", _("Scheduled")), ("ended", _("Ended or replaced"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "scheduled":
            return queryset.filter(valid_from__gt=now)
        if self.value() == "ended":
            return queryset.filter(Q(valid_until__lte=now) | Q(replaced_at__lte=now))
        if self.value() == "in_force":
            # Spelled out rather than exclude(): NOT (NULL <= now) is not true in SQL.
            return queryset.filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now),
                                   Q(replaced_at__isnull=True) | Q(replaced_at__gt=now), valid_from__lte=now)
        return queryset


class TariffAssignmentForm(forms.ModelForm):
    """Adding runs tariff_assign's checks; changing only sets the end, checked like assignment_end."""

    class Meta:
        model = TariffAssignment
        fields = ["tariff", "organization", "charge_point", "evse", "location", "user_group", "valid_from",
                  "valid_until"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        now = timezone.now()
        try:
            if self.instance.pk is None:
                assignment = tariffs.tariff_assign_check(
                    tariff=data["tariff"], valid_from=data["valid_from"], charge_point=data.get("charge_point"),
                    evse=data.get("evse"), location=data.get("location"), user_group=data.get("user_group"),
                    organization=data.get("organization"), now=now)
                self.instance.level, self.instance.target_key = assignment.level, assignment.target_key
                data["organization"] = assignment.organization
            elif "valid_until" in self.changed_data:
                if data.get("valid_until") is None:
                    raise ValidationError({"valid_until": _("An end cannot be taken back; assign the tariff "
                                                            "again instead.")})
                tariffs.assignment_end_check(assignment=self.instance, at=data["valid_until"], now=now)
        except ValidationError as error:
            _form_error(self, error)
        return data


def _end_now(assignment, request, reason):
    tariffs.assignment_end(assignment=assignment, at=timezone.now(), acting_user=request.user, reason=reason,
                           now=timezone.now())
    return None


def _remove_scheduled(assignment, request, reason):
    tariffs.assignment_remove(assignment=assignment, acting_user=request.user, reason=reason, now=timezone.now())
    return None


@admin.register(TariffAssignment)
class TariffAssignmentAdmin(ChargingChoicesMixin, AuditedAdmin):
    form = TariffAssignmentForm
    change_list_template = "admin/billing/tariffassignment/change_list.html"
    list_display = ["target", "level", "tariff_link", "valid_from", "ends", "state"]
    list_filter = [AssignmentStateFilter, "level", "tariff__currency"]
    search_fields = ["tariff__name", "charge_point__identity", "charge_point__display_name", "location__name",
                     "user_group__name", "organization__name"]
    autocomplete_fields = ["tariff", "organization", "charge_point", "evse", "location", "user_group"]
    date_hierarchy = "valid_from"
    actions = ["end_now", "remove_scheduled"]

    end_now = action_with_reason(description=gettext_lazy("End now (the next level's tariff applies)"),
                                 permissions=["change"], apply=_end_now)
    remove_scheduled = action_with_reason(description=gettext_lazy("Remove (only not yet in force)"),
                                          permissions=["delete"], apply=_remove_scheduled)

    def get_queryset(self, request):
        return with_effective_end(super().get_queryset(request).select_related(
            "tariff", "organization", "charge_point", "evse__charge_point", "location", "user_group"))

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["tariff", "charge_point", "evse", "location", "user_group", "organization", "valid_from"]
        return ["tariff", "target", "level", "valid_from", "valid_until", "state", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        readonly = ["tariff", "target", "level", "valid_from", "state", "created_at"]
        return readonly if self._may_end(obj) else [*readonly, "valid_until"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form.base_fields["valid_from"].initial = timezone.now
            form.base_fields["organization"].required = False
            form.base_fields["organization"].help_text = _(
                "Only for a price at all the organization's stations: its default tariff, or with a user group.")
        return form

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Tariff:
            kwargs["queryset"] = tariffs_visible_to(request.user).filter(is_active=True)
        elif db_field.related_model is UserGroup:
            kwargs["queryset"] = scope(UserGroup.objects.all(), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _may_end(self, obj) -> bool:
        end = effective_end(obj)
        return end is None or end > timezone.now()

    def has_change_permission(self, request, obj=None):
        if obj is not None and not self._may_end(obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.valid_from <= timezone.now():
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description=gettext_lazy("target"), ordering="target_key")
    def target(self, assignment):
        return assignment.target_label()

    @admin.display(description=gettext_lazy("tariff"), ordering="tariff__name")
    def tariff_link(self, assignment):
        url = reverse("admin:billing_tariff_change", args=[assignment.tariff_id])
        return format_html('<a href="{}">{}</a>', url, assignment.tariff)

    @admin.display(description=gettext_lazy("ends"))
    def ends(self, assignment):
        end = effective_end(assignment)
        return "–" if end is None else timezone.localtime(end).strftime("%Y-%m-%d %H:%M")

    @admin.display(description=gettext_lazy("state"))
    def state(self, assignment):
        now = timezone.now()
        if assignment.valid_from > now:
            return _("Scheduled")
        end = effective_end(assignment)
        return _("Ended or replaced") if end is not None and end <= now else _("In force")

    def save_model(self, request, obj, form, change):
        data, reason, now = form.cleaned_data, form.cleaned_data[REASON_FIELD], timezone.now()
        if not change:
            created = tariffs.tariff_assign(
                tariff=data["tariff"], valid_from=data["valid_from"], charge_point=data.get("charge_point"),
                evse=data.get("evse"), location=data.get("location"), user_group=data.get("user_group"),
                organization=data.get("organization"), acting_user=request.user, reason=reason, now=now)
            for name in ("pk", "organization_id", "charge_point_id", "level", "target_key", "created_at"):
                setattr(obj, name, getattr(created, name))
            return
        if "valid_until" in form.changed_data:
            tariffs.assignment_end(assignment=obj, at=data["valid_until"], acting_user=request.user, reason=reason,
                                   now=now)

    def save_related(self, request, form, formsets, change):
        # Everything was written by the service in save_model.
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request, obj):
        tariffs.assignment_remove(assignment=obj, acting_user=request.user, reason=_("Removed in the admin"),
                                  now=timezone.now())

    # --- The price preview -----------------------------------------------------------------------------------------
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [path("preview/", self.admin_site.admin_view(self.preview_view), name="{}_{}_preview".format(*info)),
                *super().get_urls()]

    def preview_view(self, request: HttpRequest):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = PricePreviewForm(request.GET or None, user=request.user, admin_site=self.admin_site)
        preview = None
        if form.is_valid():
            data = form.cleaned_data
            preview = price_preview(user=request.user, charge_point=data["charge_point"], evse=data.get("evse"),
                                    driver=data.get("driver"), at=data["at"])
        context = {
            **self.admin_site.each_context(request),
            "title": _("Price preview"),
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "preview": preview,
            "summary": _preview_summary(preview, request) if preview is not None else None,
        }
        return TemplateResponse(request, "admin/billing/tariffassignment/preview.html", context)


class PricePreviewForm(forms.Form):
    charge_point = forms.ModelChoiceField(queryset=ChargePoint.objects.none(), label=gettext_lazy("Charge point"))
    evse = forms.ModelChoiceField(queryset=Evse.objects.none(), required=False, label=gettext_lazy("EVSE"),
                                  help_text=gettext_lazy("Empty: the station as a whole (AC prices)."))
    driver = forms.ModelChoiceField(queryset=User.objects.none(), required=False, label=gettext_lazy("Driver"),
                                    help_text=gettext_lazy("Empty: a driver without a group price."))
    at = forms.DateTimeField(label=gettext_lazy("At"), input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
                             widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
                             help_text=gettext_lazy("Local time; the sample session starts then."))

    def __init__(self, *args, user, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        # Widgets first: setting a queryset hands its choices to the field's current widget.
        self.fields["charge_point"].widget = AutocompleteSelect(
            TariffAssignment._meta.get_field("charge_point"), admin_site)
        self.fields["evse"].widget = AutocompleteSelect(TariffAssignment._meta.get_field("evse"), admin_site)
        self.fields["driver"].widget = AutocompleteSelect(ChargingSession._meta.get_field("user"), admin_site)
        self.fields["charge_point"].queryset = scope(ChargePoint.objects.all(), user)
        self.fields["evse"].queryset = scope(Evse.objects.select_related("charge_point"), user,
                                             "charge_point__organization")
        self.fields["driver"].queryset = users_visible_to(user)
        self.fields["at"].initial = timezone.localtime().replace(second=0, microsecond=0)

    def clean(self):
        data = super().clean()
        evse, charge_point = data.get("evse"), data.get("charge_point")
        if evse is not None and charge_point is not None and evse.charge_point_id != charge_point.pk:
            self.add_error("evse", _("The EVSE belongs to another charge point."))
        return data


def _money(amount, currency):
    return format_amount(amount, currency)


def _preview_summary(preview, request) -> dict:
    """The preview in displayable pieces: the tariff's prices and the sample session's lines, formatted."""
    summary = {"prices": [], "lines": [], "totals": None, "pieces": [], "fallback": False}
    resolved = preview.resolved
    if resolved is not None:
        tariff, currency = resolved.tariff, resolved.tariff.currency
        unit = {"unit_price": True}
        rows = []
        if tariff.free:
            rows.append((_("Free of charge"), _("Energy, time and session fee are 0.00.")))
        elif tariff.dynamic is not None:
            dynamic = tariff.dynamic
            rows.append((_("Energy"), _("spot × %(multiplier)s + %(markup)s per kWh") % {
                "multiplier": dynamic.multiplier, "markup": format_amount(dynamic.markup, currency, **unit)}))
            floor, cap = format_amount(dynamic.floor, currency, **unit), format_amount(dynamic.cap, currency, **unit)
            rows.append((_("Lowest / highest"), f"{floor} / {cap}"))
            rows.append((_("Fallback spot price"), format_amount(dynamic.fallback_spot_price, currency, **unit)))
        else:
            rows.append((_("Energy AC per kWh"), format_amount(tariff.energy_price_ac, currency, **unit)))
            rows.append((_("Energy DC per kWh"), format_amount(tariff.energy_price_dc, currency, **unit)))
        if not tariff.free:
            rows.append((_("Time price per minute"), _("%(price)s after %(minutes)d free minutes") % {
                "price": format_amount(tariff.time_price_per_minute, currency, **unit),
                "minutes": tariff.free_minutes} if tariff.time_price_per_minute else "–"))
            rows.append((_("Session fee"), format_amount(tariff.session_fee, currency) if tariff.session_fee
                         else "–"))
        rows.append((_("VAT"), _("%(rate)s %%, prices %(mode)s") % {
            "rate": number_format(tariff.vat_rate.normalize() if tariff.vat_rate % 1 else int(tariff.vat_rate)),
            "mode": _("include VAT") if tariff.vat_mode == pricing.VatMode.INCLUDED else _("exclude VAT")}))
        summary["prices"] = rows
        if preview.tariff is not None and request.user.has_perm("billing.view_tariff"):
            summary["tariff_url"] = reverse("admin:billing_tariff_change", args=[preview.tariff.pk])
        summary["assignment_url"] = reverse("admin:billing_tariffassignment_change",
                                            args=[preview.assignment.pk])
        summary["level"] = TariffAssignment.Level(resolved.record.level).label
    for piece in preview.pieces:
        summary["pieces"].append({
            "start": timezone.localtime(piece.start), "end": timezone.localtime(piece.end),
            "tariff": piece.resolved.tariff.reference if piece.resolved else _("no tariff")})
    result = preview.sample
    if result is not None:
        kinds = {pricing.LineKind.ENERGY: _("Energy"), pricing.LineKind.TIME: _("Time"),
                 pricing.LineKind.SESSION_FEE: _("Session fee")}
        units = {pricing.LineKind.ENERGY: "kWh", pricing.LineKind.TIME: _("min"), pricing.LineKind.SESSION_FEE: ""}
        gaps = preview.coverage.gaps if preview.coverage is not None else ()
        for line in result.lines:
            fallback = line.used_fallback or (line.spot_price is not None and any(
                start <= line.period_start < end for start, end in gaps))
            summary["lines"].append({
                "kind": kinds[line.kind], "start": timezone.localtime(line.period_start),
                "end": timezone.localtime(line.period_end),
                "quantity": f"{number_format(line.quantity)} {units[line.kind]}".strip(),
                "unit_price": format_amount(line.unit_price, result.currency, unit_price=True),
                "spot": None if line.spot_price is None else format_amount(line.spot_price, result.currency,
                                                                           unit_price=True),
                "fallback": fallback, "excl": _money(line.amount_excl_vat, result.currency),
                "vat": _money(line.vat_amount, result.currency), "incl": _money(line.amount_incl_vat, result.currency)})
            summary["fallback"] |= fallback
        summary["totals"] = {"excl": _money(result.total_excl_vat, result.currency),
                             "vat": _money(result.total_vat, result.currency),
                             "incl": _money(result.total_incl_vat, result.currency)}
    return summary


# --- Spot prices ------------------------------------------------------------------------------------------------
class SpotDayForm(forms.Form):
    area = forms.ChoiceField(label=gettext_lazy("Bidding area"), choices=SpotPrice._meta.get_field("area").choices)
    day = forms.DateField(label=gettext_lazy("Day"), widget=forms.DateInput(attrs={"type": "date"},
                                                                             format="%Y-%m-%d"))
    currency = forms.ChoiceField(label=gettext_lazy("Currency"), choices=CURRENCY_CHOICES,
                                 help_text=gettext_lazy("EUR prices are converted with SPOT_EXCHANGE_RATES."))


@admin.register(SpotPrice)
class SpotPriceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    change_list_template = "admin/billing/spotprice/change_list.html"
    list_display = ["area", "local_start", "local_end", "price_per_kwh", "source", "fetched_at"]
    list_filter = ["area", "source", "currency"]
    date_hierarchy = "start"
    ordering = ["-start", "area", "source"]

    @admin.display(description=gettext_lazy("from"), ordering="start")
    def local_start(self, price):
        return timezone.localtime(price.start).strftime("%Y-%m-%d %H:%M %Z")

    @admin.display(description=gettext_lazy("until"), ordering="end")
    def local_end(self, price):
        return timezone.localtime(price.end).strftime("%Y-%m-%d %H:%M %Z")

    @admin.display(description=gettext_lazy("price per kWh excl. VAT"), ordering="price")
    def price_per_kwh(self, price):
        return format_amount(price.price, price.currency, unit_price=True)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [path("day/", self.admin_site.admin_view(self.day_view), name="{}_{}_day".format(*info)),
                *super().get_urls()]

    def day_view(self, request: HttpRequest):
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = timezone.localdate()
        form = SpotDayForm(request.GET or {"area": "SE3", "day": today.isoformat(), "currency": "SEK"})
        day = None
        if form.is_valid():
            data = form.cleaned_data
            day = spot_day(area=data["area"], day=data["day"], currency=data["currency"])
        context = {
            **self.admin_site.each_context(request),
            "title": _("Spot prices per day"),
            "opts": self.opts,
            "form": form,
            "spot_day": day,
            "rows": [{"start": timezone.localtime(row.start), "end": timezone.localtime(row.end),
                      "price": format_amount(row.price, day.currency, unit_price=True), "source": row.source,
                      "bar": row.bar_percent, "negative": row.negative} for row in day.rows] if day else [],
            "gaps": [(timezone.localtime(start), timezone.localtime(end)) for start, end in day.gaps] if day else [],
            "stats": {name: format_amount(getattr(day, name), day.currency, unit_price=True)
                      for name in ("lowest", "highest", "average")} if day else {},
            "previous_day": (day.day - timedelta(days=1)).isoformat() if day else None,
            "next_day": (day.day + timedelta(days=1)).isoformat() if day else None,
        }
        return TemplateResponse(request, "admin/billing/spotprice/day.html", context)


def _resolve_gap(gap, request, reason):
    spot_prices.gap_resolve(gap=gap, acting_user=request.user, reason=reason, now=timezone.now())
    return None


class ResolvedAtFilter(admin.SimpleListFilter):
    """Rows still waiting (no ``resolved_at``) or already resolved; subclasses name the two choices."""

    #: (value, label) of the waiting rows and of the resolved ones.
    waiting: tuple[str, str]
    resolved: tuple[str, str]

    def lookups(self, request, model_admin):
        return [self.waiting, self.resolved]

    def queryset(self, request, queryset):
        if self.value() == self.waiting[0]:
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == self.resolved[0]:
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class GapOpenFilter(ResolvedAtFilter):
    title = gettext_lazy("open")
    parameter_name = "open"
    waiting = ("yes", gettext_lazy("Open"))
    resolved = ("no", gettext_lazy("Resolved"))


@admin.register(SpotPriceGap)
class SpotPriceGapAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Support's list of missing spot prices: failed fetches and intervals priced at the fallback."""

    list_display = ["area", "kind", "local_start", "local_end", "currency", "fallback_price", "occurrences",
                    "last_seen_at", "resolved_at", "detail"]
    list_filter = [GapOpenFilter, "kind", "area"]
    date_hierarchy = "start"
    actions = ["mark_resolved"]

    mark_resolved = action_with_reason(description=gettext_lazy("Mark resolved"), permissions=["resolve"],
                                       apply=_resolve_gap)

    def has_view_permission(self, request, obj=None):
        return is_operator_staff(request.user) and super().has_view_permission(request, obj)

    def has_resolve_permission(self, request):
        return is_operator_staff(request.user)

    @admin.display(description=gettext_lazy("from"), ordering="start")
    def local_start(self, gap):
        return timezone.localtime(gap.start).strftime("%Y-%m-%d %H:%M")

    @admin.display(description=gettext_lazy("until"), ordering="end")
    def local_end(self, gap):
        return timezone.localtime(gap.end).strftime("%Y-%m-%d %H:%M")


@admin.register(SessionCost)
class SessionCostAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    """What finished sessions cost (written by billing.services.session_pricing; read-only here)."""

    organization_field = "session__organization"
    list_display = ["session", "priced_at", "energy_wh", "total", "used_fallback"]
    list_filter = ["used_fallback", "currency"]
    search_fields = ["=session__id", "session__charge_point__identity", "session__transaction_id"]
    list_select_related = ["session__charge_point"]
    fields = ["session", "currency", "energy_wh", "total_excl_vat", "total_vat", "total_incl_vat", "used_fallback",
              "priced_at", "lines", "tariffs"]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("total incl. VAT"), ordering="total_incl_vat")
    def total(self, cost):
        return format_amount(cost.total_incl_vat, cost.currency)


class InvoiceLineInline(TenantScopedInline):
    model = InvoiceLine
    organization_field = "invoice__organization"
    fields = ["position", "kind", "description", "session", "energy_wh", "quantity", "unit", "unit_price", "amount",
              "vat_rate"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReminderInline(TenantScopedInline):
    model = Reminder
    organization_field = "invoice__organization"
    fields = ["level", "reminded_on", "pay_by", "amount_due", "fee", "sent_at", "unblocked_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _credit(invoice: Invoice, request: HttpRequest, reason: str) -> str:
    try:
        note = invoicing.invoice_credit(invoice=invoice, acting_user=request.user, reason=reason, now=timezone.now())
    except invoicing.InvoiceError as error:
        raise ValidationError(str(error)) from None
    return _("Credit note %(note)s credits %(invoice)s.") % {"note": note.display_number, "invoice": invoice}


def _resend(invoice: Invoice, request: HttpRequest, reason: str) -> str:
    try:
        invoicing.invoice_resend(invoice=invoice, acting_user=request.user, reason=reason)
    except invoicing.InvoiceError as error:
        raise ValidationError(str(error)) from None
    return ""


def _unblock_tags(invoice: Invoice, request: HttpRequest, reason: str) -> str:
    try:
        result = dunning.dunning_unblock_manually(invoice=invoice, acting_user=request.user, reason=reason,
                                                  now=timezone.now())
    except dunning.DunningRefused as error:
        raise ValidationError(str(error)) from None
    message = _("Invoice %(invoice)s: %(count)d tags unblocked.") % {"invoice": invoice,
                                                                     "count": len(result.unblocked)}
    if result.kept:
        message += " " + _("Still blocked: %(tags)s (another unpaid invoice at reminder 3, or blocked again for "
                           "another reason).") % {"tags": ", ".join(token.uid for token in result.kept)}
    return message


def _resend_reminder(invoice: Invoice, request: HttpRequest, reason: str) -> str:
    # The action is offered to anyone who sees the invoice; sending in the association's name takes a board admin.
    if not can_manage(request.user, invoice.organization_id, write=True):
        raise ValidationError(_("You may look at this invoice but not send its reminder."))
    try:
        reminder = dunning.reminder_resend(invoice=invoice, acting_user=request.user, reason=reason,
                                           now=timezone.now())
    except dunning.DunningRefused as error:
        raise ValidationError(str(error)) from None
    return _("Reminder %(level)s of invoice %(invoice)s is e-mailed again to %(email)s.") % {
        "level": reminder.level, "invoice": invoice, "email": invoice.buyer.email}


class OverdueFilter(admin.SimpleListFilter):
    """Overdue as dunning defines it: issued, the due date passed, and not covered by the payments."""

    title = gettext_lazy("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue")), ("no", _("Not overdue"))]

    def queryset(self, request, queryset):
        if self.value() not in ("yes", "no"):
            return queryset
        overdue = dunning.overdue_invoices(today=timezone.localdate())
        if self.value() == "yes":
            return queryset.filter(pk__in=overdue.values("pk"))
        return queryset.exclude(pk__in=overdue.values("pk"))


class ManualPaymentForm(forms.Form):
    """A payment received outside the automatic channels (cash, a bank transfer without OCR …)."""

    amount = forms.DecimalField(label=gettext_lazy("Amount"), max_digits=12, decimal_places=2,
                                min_value=Decimal("0.01"), localize=True,
                                help_text=gettext_lazy("What was received; more than is due becomes the payer's "
                                                       "credit balance."))
    paid_on = forms.DateField(label=gettext_lazy("Payment date"), input_formats=["%Y-%m-%d"],
                              widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=gettext_lazy("Stored in the audit log, e.g. how the money arrived."))

    def __init__(self, *args, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_paid_on(self):
        paid_on = self.cleaned_data["paid_on"]
        if paid_on > self.today:
            raise ValidationError(_("The payment date cannot be in the future."))
        return paid_on

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise ValidationError(_("Give a reason for recording this payment."))
        return reason


def _paid_at(paid_on: date, now: datetime) -> datetime:
    # Only the date is known: noon local time keeps it on that date in every zone shown; today is "now".
    if paid_on == timezone.localdate(now):
        return now
    return timezone.make_aware(datetime.combine(paid_on, time(12)))


@admin.register(Invoice)
class InvoiceAdmin(AuditedAdmin):
    """Resident invoices and credit notes. Nothing on an issued invoice is edited here: corrections are credit
    notes (operator staff only), and an invoice can be e-mailed again with a reason.

    Operator staff also record a manual payment and unblock the tags dunning blocked (a payment plan was agreed);
    board admins may e-mail the newest reminder again. Each action asks why and is audited by its service."""

    list_display = ["__str__", "kind", "purpose", "status", "buyer", "organization", "period_start", "issue_date",
                    "due_date", "total", "sent_at", "reminder_level"]
    list_filter = ["status", "kind", "purpose", OverdueFilter, ("organization", admin.RelatedOnlyFieldListFilter),
                   PeriodFilter]
    search_fields = ["=number", "ocr", "buyer__email", "buyer__last_name"]
    list_select_related = ["series", "buyer", "organization"]
    fields = ["series", "number", "kind", "credits", "buyer", "organization", "period_start", "period_end",
              "issue_date", "due_date", "currency", "total", "vat", "taxable", "amount_paid", "still_due", "ocr",
              "status", "language", "reason", "pdf", "sent_at"]
    readonly_fields = fields
    inlines = [InvoiceLineInline, ReminderInline]
    actions = ["resend_invoices", "credit_invoices", "record_manual_payment", "unblock_tags", "resend_reminder"]
    resend_invoices = action_with_reason(description=gettext_lazy("Resend the invoice by e-mail"),
                                         permissions=["view"], apply=_resend)
    credit_invoices = action_with_reason(description=gettext_lazy("Issue a credit note"), permissions=["credit"],
                                         apply=_credit)
    unblock_tags = action_with_reason(description=gettext_lazy("Unblock the resident's tags (reminder 3)"),
                                      permissions=["unblock"], apply=_unblock_tags)
    resend_reminder = action_with_reason(description=gettext_lazy("Send the latest reminder again"),
                                         permissions=["view"], apply=_resend_reminder)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Issued invoices are immutable; the run and the services write the rest.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_credit_permission(self, request):
        return self.operator_only(request)

    def has_record_payment_permission(self, request):
        return self.operator_only(request)

    def has_unblock_permission(self, request):
        return self.operator_only(request)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(reminder_level=Max("reminders__level"))

    @admin.display(description=gettext_lazy("reminder"), ordering="reminder_level")
    def reminder_level(self, invoice):
        return invoice.reminder_level or "–"

    @admin.display(description=gettext_lazy("amount paid"))
    def amount_paid(self, invoice):
        return format_amount(payments.amount_paid(invoice), invoice.currency)

    @admin.display(description=gettext_lazy("still due"))
    def still_due(self, invoice):
        if invoice.kind != Invoice.Kind.INVOICE or invoice.status == Invoice.Status.DRAFT:
            return "–"
        return format_amount(payments.amount_due(invoice), invoice.currency)

    @admin.action(description=gettext_lazy("Record a manual payment…"), permissions=["record_payment"])
    def record_manual_payment(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one invoice to record a payment for."), messages.ERROR)
            return None
        invoice = queryset.get()
        if invoice.kind != Invoice.Kind.INVOICE or invoice.status != Invoice.Status.ISSUED:
            self.message_user(request, _("Invoice %(invoice)s is %(status)s: nothing is due on it.") % {
                "invoice": invoice, "status": invoice.get_status_display()}, messages.ERROR)
            return None
        now = timezone.now()
        today = timezone.localdate(now)
        due = payments.amount_due(invoice)
        applying = "apply" in request.POST
        form = ManualPaymentForm(request.POST if applying else None, initial={"amount": due, "paid_on": today},
                                 today=today)
        if applying and form.is_valid():
            data = form.cleaned_data
            try:
                payment, _created = payments.payment_record(
                    invoice=invoice, channel=Payment.Channel.MANUAL, amount=data["amount"],
                    currency=invoice.currency, paid_at=_paid_at(data["paid_on"], now),
                    details={"paid_on": data["paid_on"].isoformat()}, acting_user=request.user,
                    reason=data["reason"])
            except payments.PaymentError as error:
                form.add_error(None, str(error))
            else:
                message = _("%(amount)s recorded as paid on invoice %(invoice)s.") % {
                    "amount": format_amount(payment.amount, payment.currency), "invoice": invoice}
                if payment.credited:
                    message += " " + _("%(credited)s went to the payer's credit balance.") % {
                        "credited": format_amount(payment.credited, payment.currency)}
                self.message_user(request, message, messages.SUCCESS)
                return None
        context = {**self.admin_site.each_context(request), "title": _("Record a manual payment"),
                   "opts": self.model._meta, "queryset": queryset, "form": form, "invoice": invoice,
                   "total": format_amount(invoice.total, invoice.currency),
                   "paid": format_amount(payments.amount_paid(invoice), invoice.currency),
                   "due": format_amount(due, invoice.currency),
                   "action_name": "record_manual_payment", "action_checkbox_name": ACTION_CHECKBOX_NAME,
                   "selected": [str(invoice.pk)]}
        return TemplateResponse(request, "admin/billing/invoice/record_payment.html", context)


@admin.register(InvoiceSeries)
class InvoiceSeriesAdmin(AuditedAdmin):
    """The sellers' number series; the next number only ever moves forward through the services."""

    organization_field = "seller"
    list_display = ["seller", "prefix", "next_number"]
    readonly_fields = ["next_number"]

    def has_add_permission(self, request):
        return self.operator_only(request)

    def has_change_permission(self, request, obj=None):
        # A prefix is part of every number and OCR reference already issued.
        return self.operator_only(request) and (obj is None or not obj.invoices.exists())

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RecurringFee)
class RecurringFeeAdmin(AuditedAdmin):
    """Monthly fees the board put on every resident's invoice."""

    list_display = ["name", "organization", "amount", "vat_rate", "applies_to_residents", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "organization__name"]

    def has_delete_permission(self, request, obj=None):
        return obj is None or not obj.invoice_lines.exists()


# --- Payments -------------------------------------------------------------------------------------------------------
class PaymentAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    """Payments, credit balance used and refunds, read-only: the services record them (webhook, BgMax import, the
    matching queue, a manual payment on the invoice page)."""

    organization_field = "invoice__organization"
    list_display = ["paid_at", "kind", "channel", "amount", "applied", "credited", "currency", "invoice", "buyer",
                    "external_id", "recorded_by"]
    list_filter = ["kind", "channel", "currency"]
    search_fields = ["external_id", "invoice__ocr", "buyer__email"]
    list_select_related = ["invoice__series", "buyer", "recorded_by"]
    date_hierarchy = "paid_at"
    readonly_fields = ["invoice", "buyer", "kind", "channel", "amount", "applied", "credited", "currency", "paid_at",
                       "external_id", "refund_of", "details", "recorded_by", "reason", "recorded_at"]
    fields = readonly_fields



admin.site.register(Payment, PaymentAdmin)


class _OperatorReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Rows without a tenant (whose money it is may be unknown): operator staff only, written by the services."""

    def has_view_permission(self, request, obj=None):
        return is_operator_staff(request.user) and super().has_view_permission(request, obj)



class BgmaxUploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("BgMax file"),
                           help_text=gettext_lazy("The file of incoming bankgiro payments from Bankgirot."))


@admin.register(PaymentImport)
class PaymentImportAdmin(_OperatorReadOnlyAdmin):
    """Imported BgMax files; "Upload" imports one (exact OCR matches are paid, the rest goes to the queue)."""

    list_display = ["file_name", "imported_at", "imported_by", "payments", "applied", "queued", "duplicates"]
    readonly_fields = ["file_name", "sha256", "imported_at", "imported_by", "payments", "applied", "queued",
                       "duplicates"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return is_operator_staff(request.user) and admin.ModelAdmin.has_add_permission(self, request)

    def add_view(self, request, form_url="", extra_context=None):
        return self.admin_site.admin_view(self.upload_view)(request)

    def upload_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = BgmaxUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                payment_import, created = payments.bgmax_import(data=upload.read(), file_name=upload.name,
                                                                acting_user=request.user, now=timezone.now())
            except BgmaxError as error:
                for issue in error.issues[:20]:
                    form.add_error("file", _("Line %(line)d: %(message)s") % {
                        "line": issue.line_number, "message": _(issue.template) % issue.params})
            else:
                if created:
                    self.message_user(request, _("%(count)d payments: %(applied)d applied, %(queued)d to the "
                                                 "matching queue, %(duplicates)d already recorded.") % {
                        "count": payment_import.payments, "applied": payment_import.applied,
                        "queued": payment_import.queued, "duplicates": payment_import.duplicates},
                        messages.SUCCESS)
                else:
                    self.message_user(request, _("This file was already imported on %(date)s; nothing changed.")
                                      % {"date": timezone.localtime(payment_import.imported_at)
                                         .strftime("%Y-%m-%d %H:%M")}, messages.WARNING)
                return HttpResponseRedirect(reverse("admin:billing_unmatchedpayment_changelist"))
        context = {**self.admin_site.each_context(request), "title": _("Import a BgMax file"),
                   "opts": self.model._meta, "form": form}
        return TemplateResponse(request, "admin/billing/paymentimport/upload.html", context)


class ApplyPaymentForm(forms.Form):
    invoice = forms.ModelChoiceField(label=gettext_lazy("Invoice"), queryset=Invoice.objects.none(),
                                     help_text=gettext_lazy("Open or paid invoices; a surplus becomes the payer's "
                                                            "credit balance."))
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["invoice"].queryset = (Invoice.objects.filter(
            kind=Invoice.Kind.INVOICE, status__in=[Invoice.Status.ISSUED, Invoice.Status.PAID])
            .select_related("series", "buyer").order_by("-issue_date", "-number"))
        self.fields["invoice"].label_from_instance = lambda invoice: _(
            "%(number)s · OCR %(ocr)s · %(buyer)s · %(total)s %(currency)s · %(status)s") % {
            "number": invoice.display_number, "ocr": invoice.ocr, "buyer": invoice.buyer, "total": invoice.total,
            "currency": invoice.currency, "status": invoice.get_status_display()}


class QueueStateFilter(ResolvedAtFilter):
    title = gettext_lazy("state")
    parameter_name = "state"
    waiting = ("open", gettext_lazy("Waiting"))
    resolved = ("resolved", gettext_lazy("Applied"))


@admin.register(UnmatchedPayment)
class UnmatchedPaymentAdmin(_OperatorReadOnlyAdmin):
    """The manual matching queue: payments no invoice took automatically. "Apply to invoice…" books one on the
    invoice a person picks, with a reason (audited)."""

    list_display = ["paid_on", "channel", "amount", "currency", "reference", "payer_name", "outcome", "reason",
                    "suggested_invoice", "payment", "resolved_at"]
    list_filter = [QueueStateFilter, "channel", "outcome"]
    search_fields = ["reference", "payer_name", "key"]
    list_select_related = ["suggested_invoice__series", "payment"]
    readonly_fields = ["channel", "key", "reference", "amount", "currency", "paid_on", "payer_name", "outcome",
                       "reason", "suggested_invoice", "details", "payment_import", "created_at", "payment",
                       "resolved_at", "resolved_by"]
    fields = readonly_fields
    actions = ["apply_to_invoice"]

    def has_apply_permission(self, request):
        return is_operator_staff(request.user)

    @admin.action(description=gettext_lazy("Apply to invoice…"), permissions=["apply"])
    def apply_to_invoice(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one payment to apply."), messages.ERROR)
            return None
        item = queryset.get()
        if item.resolved_at is not None:
            self.message_user(request, _("This payment has already been applied."), messages.ERROR)
            return None
        applying = "apply" in request.POST
        form = ApplyPaymentForm(request.POST if applying else None,
                                initial={"invoice": item.suggested_invoice_id})
        if applying and form.is_valid():
            try:
                payment = payments.unmatched_apply(item=item, invoice=form.cleaned_data["invoice"],
                                                   acting_user=request.user, reason=form.cleaned_data["reason"],
                                                   now=timezone.now())
            except payments.PaymentError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(request, _("%(amount)s %(currency)s applied to invoice %(invoice)s.") % {
                    "amount": payment.amount, "currency": payment.currency, "invoice": payment.invoice},
                    messages.SUCCESS)
                return None
        context = {**self.admin_site.each_context(request), "title": _("Apply to invoice…"),
                   "opts": self.model._meta, "queryset": queryset, "form": form,
                   "action_name": "apply_to_invoice", "action_checkbox_name": ACTION_CHECKBOX_NAME,
                   "selected": [str(item.pk)], "intro": item.reason}
        return TemplateResponse(request, "admin/action_with_reason.html", context)


@admin.register(StripeEvent)
class StripeEventAdmin(_OperatorReadOnlyAdmin):
    """Stripe webhook events handled (each once), with what they did."""

    list_display = ["event_id", "type", "received_at", "payment", "result"]
    list_filter = ["type"]
    search_fields = ["event_id"]
    readonly_fields = ["event_id", "type", "received_at", "payment", "result"]
    fields = readonly_fields


class CardSavedFilter(admin.SimpleListFilter):
    title = gettext_lazy("card saved")
    parameter_name = "card"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(payment_method_id="")
        if self.value() == "no":
            return queryset.filter(payment_method_id="")
        return queryset


@admin.register(StripeCustomer)
class StripeCustomerAdmin(_OperatorReadOnlyAdmin):
    """Residents' Stripe customers and whether a card is saved for automatic charges (the services write them)."""

    list_display = ["user", "customer_id", "card_saved", "card_saved_at"]
    list_filter = [CardSavedFilter]
    search_fields = ["customer_id", "user__email", "user__last_name"]
    list_select_related = ["user"]
    fields = ["user", "customer_id", "card_saved", "card_saved_at", "setup_requests"]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("card saved"), boolean=True)
    def card_saved(self, customer):
        return bool(customer.payment_method_id)


@admin.register(SwishPaymentRequest)
class SwishPaymentRequestAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    """Swish payment requests made from invoices' pay pages, read-only; "payment" links the Payment recorded once
    Swish said it was paid."""

    organization_field = "invoice__organization"
    list_display = ["created_at", "status", "amount", "currency", "invoice", "payment_link", "updated_at"]
    list_filter = ["status"]
    search_fields = ["request_id", "instruction_uuid", "invoice__ocr"]
    list_select_related = ["invoice__series", "payment"]
    date_hierarchy = "created_at"
    fields = ["invoice", "status", "amount", "currency", "payer_alias", "request_id", "instruction_uuid", "error",
              "payment_link", "created_at", "updated_at"]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("payment"))
    def payment_link(self, swish_request):
        if swish_request.payment is None:
            return "–"
        # The payment page checks permission and tenant itself; the link shows nothing the row does not.
        url = reverse("admin:billing_payment_change", args=[swish_request.payment_id])
        return format_html('<a href="{}">{}</a>', url, swish_request.payment)


# --- Dunning --------------------------------------------------------------------------------------------------------
class ReminderUnblockedFilter(admin.SimpleListFilter):
    title = gettext_lazy("tokens blocked")
    parameter_name = "blocking"

    def lookups(self, request, model_admin):
        return [("blocked", _("Still blocked")), ("unblocked", _("Unblocked (paid, or by a person)"))]

    def queryset(self, request, queryset):
        if self.value() == "blocked":
            return queryset.filter(level=3, unblocked_at__isnull=True)
        if self.value() == "unblocked":
            return queryset.filter(unblocked_at__isnull=False)
        return queryset


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    """The dunning overview: every payment reminder sent, read-only (the daily dunning run writes them; payment,
    or operator staff on the invoice page, unblocks what the third blocked)."""

    organization_field = "invoice__organization"
    list_display = ["invoice", "level", "reminded_on", "pay_by", "amount_due", "fee", "buyer", "organization",
                    "invoice_status", "sent_at", "blocked", "unblocked_at"]
    list_filter = ["level", ReminderUnblockedFilter, "invoice__status",
                   ("invoice__organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["=invoice__number", "invoice__ocr", "invoice__buyer__email", "invoice__buyer__last_name"]
    list_select_related = ["invoice__series", "invoice__buyer", "invoice__organization"]
    date_hierarchy = "reminded_on"
    fields = ["invoice", "level", "reminded_on", "pay_by", "amount_due", "fee", "created_at", "sent_at",
              "blocked_tokens", "unblocked_at"]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("buyer"), ordering="invoice__buyer__last_name")
    def buyer(self, reminder):
        return reminder.invoice.buyer

    @admin.display(description=gettext_lazy("association"), ordering="invoice__organization__name")
    def organization(self, reminder):
        return reminder.invoice.organization

    @admin.display(description=gettext_lazy("invoice status"), ordering="invoice__status")
    def invoice_status(self, reminder):
        return reminder.invoice.get_status_display()

    @admin.display(description=gettext_lazy("tokens blocked"), boolean=True)
    def blocked(self, reminder):
        return reminder.level == 3 and reminder.unblocked_at is None


from billing import admin_adhoc, admin_commissions, admin_payouts  # noqa: E402,F401
