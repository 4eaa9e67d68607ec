"""Admin pages of the association payouts: fee plans, billing profiles, self-billing statements (read-only, with
their invoices, public sessions and PDF), payouts with their actions (retry, bank payment file, mark paid) and the
bank payment files.

Fee plans and payout files belong to the operator: operator staff only. Statements, payouts and billing profiles are
tenant-scoped: a board member sees their own association's rows and changes nothing here. Every action asks why and
is audited by the service it calls (billing.services.payouts).
"""

from datetime import date

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin_base import (
    AuditedAdmin,
    ReadOnlyAdminMixin,
    TenantScopedAdmin,
    TenantScopedInline,
    action_with_reason,
)
from accounts.tenancy import is_operator_staff
from billing.admin_documents import IssuedDocumentAdminMixin, PeriodFilter, stored_file_response
from billing.models import (
    BillingProfile,
    FeePlan,
    Payout,
    PayoutFile,
    Statement,
    StatementInvoice,
    StatementSession,
    SubscriptionPlan,
)
from billing.selectors import format_amount
from billing.services import payouts as payout_services
from billing.services import statements as statement_services
from billing.stripe_gateway import StripeGatewayError


# --- Fee plans and billing profiles ---------------------------------------------------------------------------------
@admin.register(FeePlan)
class FeePlanAdmin(AuditedAdmin):
    """The operator's fee plans. Operator staff only; a plan an association uses is never deleted."""

    list_display = ["name", "per_kwh", "percentage", "monthly_per_charge_point", "vat_rate", "basis",
                    "roaming_share", "payout_days"]
    list_filter = ["basis"]
    search_fields = ["name"]

    def get_queryset(self, request):
        # A fee plan has no tenant: only operator staff see the plans at all.
        if not is_operator_staff(request.user):
            return FeePlan.objects.none()
        return admin.ModelAdmin.get_queryset(self, request)

    def has_view_permission(self, request, obj=None):
        return self.operator_only(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return self.operator_only(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.operator_only(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Statements keep the plan's figures, but a profile still points at it (PROTECT).
        if obj is not None and obj.profiles.exists():
            return False
        return self.operator_only(request) and super().has_delete_permission(request, obj)


@admin.register(SubscriptionPlan)
class SubscriptionPlanAdmin(FeePlanAdmin):
    """The platform's subscription plans (price per charge point and month). Operator staff only; a plan in use is
    never deleted."""

    list_display = ["name", "monthly_per_charge_point", "vat_rate"]
    list_filter = []

    def get_queryset(self, request):
        if not is_operator_staff(request.user):
            return SubscriptionPlan.objects.none()
        return admin.ModelAdmin.get_queryset(self, request)


@admin.register(BillingProfile)
class BillingProfileAdmin(AuditedAdmin):
    """How each association is paid out. Operator staff add and change; a board member may look at their own."""

    list_display = ["organization", "fee_plan", "subscription_plan", "payout_method", "stripe_payouts_enabled",
                    "updated_at"]
    # Only the plans of the profiles this person may see: a plan can be one association's negotiated deal.
    list_filter = ["payout_method", ("fee_plan", admin.RelatedOnlyFieldListFilter),
                   ("subscription_plan", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["organization__name"]
    list_select_related = ["organization", "fee_plan", "subscription_plan"]
    fields = ["organization", "fee_plan", "commission_rate", "subscription_plan", "payout_method",
              "stripe_account_id", "stripe_payouts_enabled", "clearing_number", "account_number", "iban", "updated_at"]
    readonly_fields = ["stripe_payouts_enabled", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            # One profile per organization: moving it to another association would mix two payout histories.
            return [*self.readonly_fields, "organization"]
        return self.readonly_fields

    def has_add_permission(self, request):
        return self.operator_only(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.operator_only(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Statements and payouts of the association refer to it through the organization; keep the history.
        return False

    def save_model(self, request, obj, form, change):
        obj.updated_at = timezone.now()
        form.changed_data.append("updated_at")
        super().save_model(request, obj, form, change)

    actions = ["stripe_onboarding_link", "stripe_refresh"]

    @admin.action(description=gettext_lazy("Create a Stripe onboarding link"), permissions=["operate"])
    def stripe_onboarding_link(self, request, queryset):
        """The link the association's signatory opens to set up its Stripe account (valid for minutes: made on
        demand). The account is created on first use and stored on the profile."""
        for profile in queryset.select_related("organization"):
            page = request.build_absolute_uri(reverse("admin:billing_billingprofile_change", args=[profile.pk]))
            try:
                url = payout_services.connect_onboarding_start(organization=profile.organization,
                                                               acting_user=request.user, refresh_url=page,
                                                               return_url=page)
            except (payout_services.PayoutError, StripeGatewayError) as error:
                message = _(error.template) % error.params if isinstance(error, StripeGatewayError) else str(error)
                self.message_user(request, f"{profile.organization}: {message}", messages.ERROR)
                continue
            self.message_user(request, format_html(_("{}: send this onboarding link to the association: {}"),
                                                   profile.organization, format_html('<a href="{0}">{0}</a>', url)),
                              messages.SUCCESS)

    @admin.action(description=gettext_lazy("Refresh the Stripe account status"), permissions=["operate"])
    def stripe_refresh(self, request, queryset):
        for profile in queryset.exclude(stripe_account_id="").select_related("organization"):
            try:
                enabled = payout_services.connect_account_refresh(profile=profile)
            except StripeGatewayError as error:
                self.message_user(request, f"{profile.organization}: {_(error.template) % error.params}",
                                  messages.ERROR)
                continue
            self.message_user(request, _("%(organization)s: payouts %(state)s.") % {
                "organization": profile.organization, "state": _("enabled") if enabled else _("not enabled yet")})

    def has_operate_permission(self, request):
        return self.operator_only(request)


# --- Statements -----------------------------------------------------------------------------------------------------
class StatementInvoiceInline(TenantScopedInline):
    model = StatementInvoice
    organization_field = "statement__organization"
    fields = ["invoice", "category", "energy_wh", "amount", "paid_on"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class StatementSessionInline(TenantScopedInline):
    model = StatementSession
    organization_field = "statement__organization"
    fields = ["session", "origin", "energy_wh", "amount"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _resend_statement(statement: Statement, request: HttpRequest, reason: str) -> str:
    try:
        statement_services.statement_resend(statement=statement, acting_user=request.user, reason=reason)
    except statement_services.StatementError as error:
        raise ValidationError(str(error)) from None
    return ""


@admin.register(Statement)
class StatementAdmin(IssuedDocumentAdminMixin, TenantScopedAdmin):
    """Self-billing statements as issued; nothing on them is edited. The PDF is downloaded through the admin (the
    association's own statements only)."""

    list_display = ["display_number", "organization", "period", "total", "fee", "payout_total", "payout_date",
                    "sent_at"]
    list_filter = [PeriodFilter, ("organization", admin.RelatedOnlyFieldListFilter), "status"]
    search_fields = ["=number", "organization__name"]
    list_select_related = ["series", "organization"]
    fields = ["display_number", "organization", "status", "period_start", "period_end", "issue_date", "payout_date",
              "payout_reference", "basis", "vat_exempt", "currency", "personal_wh", "personal_amount", "public_wh",
              "public_amount", "roaming_amount", "roaming_share", "total_wh", "total_amount", "fee_excl", "fee_vat",
              "fee_incl", "payout_excl", "payout_vat", "payout_incl", "pdf_link", "sent_at", "created_at"]
    readonly_fields = fields
    inlines = [StatementInvoiceInline, StatementSessionInline]
    actions = ["resend_statements"]
    resend_statements = action_with_reason(description=gettext_lazy("Send the statement again"),
                                           permissions=["view"], apply=_resend_statement)

    @admin.display(description=gettext_lazy("total charging"), ordering="total_amount")
    def total(self, statement):
        return format_amount(statement.total_amount, statement.currency)

    @admin.display(description=gettext_lazy("fee incl. VAT"), ordering="fee_incl")
    def fee(self, statement):
        return format_amount(statement.fee_incl, statement.currency)

    @admin.display(description=gettext_lazy("payout incl. VAT"), ordering="payout_incl")
    def payout_total(self, statement):
        return format_amount(statement.payout_incl, statement.currency)


# --- Payouts --------------------------------------------------------------------------------------------------------
def _service_error(error: payout_services.PayoutError) -> ValidationError:
    return ValidationError(str(error))


def _retry(payout: Payout, request: HttpRequest, reason: str) -> str:
    try:
        payout = payout_services.payout_retry(payout=payout, acting_user=request.user, reason=reason,
                                              now=timezone.now())
    except payout_services.PayoutError as error:
        raise _service_error(error) from None
    return _("Payout %(payout)s is %(status)s.") % {"payout": payout.pk, "status": payout.get_status_display()}


def _mark_paid(payout: Payout, request: HttpRequest, reason: str) -> str:
    try:
        payout_services.payout_mark_paid(payout=payout, acting_user=request.user, reason=reason, now=timezone.now())
    except payout_services.PayoutError as error:
        raise _service_error(error) from None
    return ""


class PayoutFileForm(forms.Form):
    """When the bank executes the payouts of the file, and why it is made."""

    execution_date = forms.DateField(label=gettext_lazy("Execution date"), input_formats=["%Y-%m-%d"],
                                     widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=gettext_lazy("Stored in the audit log, e.g. which month's payouts."))

    def __init__(self, *args, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_execution_date(self):
        execution_date = self.cleaned_data["execution_date"]
        if execution_date < self.today:
            raise ValidationError(_("The execution date cannot be in the past."))
        return execution_date

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise ValidationError(_("Give a reason for this payout file."))
        return reason


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    """Payouts of the statements, read-only: the daily task and the services move them. Operator staff retry a
    failed payout, put scheduled bank-file payouts in a bank payment file and mark them paid when the bank confirms;
    a board member only looks at their association's payouts."""

    list_display = ["organization", "statement", "amount", "method", "due_date", "status", "attempts", "error"]
    list_filter = ["status", "method"]
    search_fields = ["organization__name"]
    list_select_related = ["organization", "statement__series"]
    fields = ["organization", "statement", "amount", "currency", "method", "due_date", "status", "attempts",
              "stripe_transfer_id", "payout_file", "executed_at", "error", "created_at"]
    readonly_fields = fields
    actions = ["retry_payouts", "export_payout_file", "mark_paid"]
    retry_payouts = action_with_reason(description=gettext_lazy("Retry"), permissions=["operate"], apply=_retry)
    mark_paid = action_with_reason(description=gettext_lazy("Mark paid (bank confirmed)"), permissions=["operate"],
                                   apply=_mark_paid)

    def has_operate_permission(self, request):
        return self.operator_only(request)

    @admin.action(description=gettext_lazy("Export a bank payment file…"), permissions=["operate"])
    def export_payout_file(self, request, queryset):
        today = timezone.localdate()
        applying = "apply" in request.POST
        form = PayoutFileForm(request.POST if applying else None, initial={"execution_date": today}, today=today)
        if applying and form.is_valid():
            try:
                stored = payout_services.payout_file_create(
                    payouts=list(queryset), execution_date=form.cleaned_data["execution_date"],
                    acting_user=request.user, reason=form.cleaned_data["reason"], now=timezone.now())
            except payout_services.PayoutError as error:
                form.add_error(None, str(error))
            else:
                url = reverse("admin:billing_payoutfile_download", args=[stored.pk])
                self.message_user(request, format_html(
                    '{} <a href="{}">{}</a>',
                    _("Bank payment file %(file)s with %(count)d payouts (%(total)s) is made.") % {
                        "file": stored.message_id, "count": stored.payouts,
                        "total": format_amount(stored.total, queryset.first().currency)},
                    url, _("Download the file")), messages.SUCCESS)
                return None
        context = {**self.admin_site.each_context(request), "title": _("Export a bank payment file"),
                   "opts": self.model._meta, "queryset": queryset, "form": form,
                   "action_name": "export_payout_file", "action_checkbox_name": ACTION_CHECKBOX_NAME,
                   "selected": [str(pk) for pk in queryset.values_list("pk", flat=True)]}
        return TemplateResponse(request, "admin/billing/payout/export_file.html", context)


@admin.register(PayoutFile)
class PayoutFileAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The bank payment files made for payouts: operator staff only (they hold every association's account), and
    downloaded through the admin."""

    list_display = ["message_id", "execution_date", "payouts", "total", "created_by", "created_at", "download"]
    fields = ["message_id", "execution_date", "payouts", "total", "created_by", "created_at", "download"]
    readonly_fields = fields
    list_select_related = ["created_by"]

    def has_view_permission(self, request, obj=None):
        return is_operator_staff(request.user) and super().has_view_permission(request, obj)

    @admin.display(description=gettext_lazy("file"))
    def download(self, payout_file):
        if not payout_file.file:
            return "–"
        url = reverse("admin:billing_payoutfile_download", args=[payout_file.pk])
        return format_html('<a href="{}">{}</a>', url, _("Download"))

    def get_urls(self):
        return [path("<int:object_id>/download/", self.admin_site.admin_view(self.download_view),
                     name="billing_payoutfile_download"),
                *super().get_urls()]

    def download_view(self, request: HttpRequest, object_id: int):
        if not self.has_view_permission(request):
            raise Http404(_("No such payout file."))
        payout_file = self.get_object(request, str(object_id))
        if payout_file is None:
            raise Http404(_("No such payout file."))
        return stored_file_response(payout_file.file, f"{payout_file.message_id}.xml", "application/xml")
