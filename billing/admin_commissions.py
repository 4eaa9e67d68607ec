"""Admin page of resellers' commission statements: read-only, with the statements each counted, the PDF download and
a "send again" action.

Tenant-scoped through the reseller: a reseller's staff see their own commission statements, operator staff all of
them, and an association's board none (its reseller's commission is not its business). Sending again asks why and
is audited by the service (billing.services.commissions.commission_resend).
"""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy

from accounts.admin_base import TenantScopedAdmin, TenantScopedInline, action_with_reason
from billing.admin_documents import IssuedDocumentAdminMixin
from billing.models import CommissionStatement, Statement
from billing.selectors import format_amount
from billing.services import commissions as commission_services


class CountedStatementInline(TenantScopedInline):
    """The sub-organizations' statements a commission statement counted."""

    model = Statement
    fk_name = "commission"
    verbose_name = gettext_lazy("statement counted")
    verbose_name_plural = gettext_lazy("statements counted")
    fields = ["display_number", "organization", "period_start", "total_amount", "vat_exempt"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("series", "organization")

    @admin.display(description=gettext_lazy("number"))
    def display_number(self, statement):
        return statement.display_number

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _resend_commission(commission: CommissionStatement, request: HttpRequest, reason: str) -> str:
    try:
        commission_services.commission_resend(commission=commission, acting_user=request.user, reason=reason)
    except commission_services.CommissionError as error:
        raise ValidationError(str(error)) from None
    return ""


@admin.register(CommissionStatement)
class CommissionStatementAdmin(IssuedDocumentAdminMixin, TenantScopedAdmin):
    """Commission statements as issued; nothing on them is edited. The PDF is downloaded through the admin (the
    reseller's own statements only)."""

    organization_field = "reseller"
    list_display = ["display_number", "reseller", "period", "revenue", "commission", "commission_total",
                    "payout_date", "sent_at"]
    list_filter = [("reseller", admin.RelatedOnlyFieldListFilter), "status"]
    search_fields = ["=number", "reseller__name"]
    list_select_related = ["series", "reseller"]
    fields = ["display_number", "reseller", "status", "period_start", "period_end", "issue_date", "payout_date",
              "rate", "vat_exempt", "currency", "revenue_excl", "commission_excl", "commission_vat",
              "commission_incl", "pdf_link", "sent_at", "created_at"]
    readonly_fields = fields
    inlines = [CountedStatementInline]
    actions = ["resend_commissions"]
    resend_commissions = action_with_reason(description=gettext_lazy("Send the commission statement again"),
                                            permissions=["view"], apply=_resend_commission)

    @admin.display(description=gettext_lazy("revenue excl. VAT"), ordering="revenue_excl")
    def revenue(self, commission):
        return format_amount(commission.revenue_excl, commission.currency)

    @admin.display(description=gettext_lazy("commission excl. VAT"), ordering="commission_excl")
    def commission(self, commission):
        return format_amount(commission.commission_excl, commission.currency)

    @admin.display(description=gettext_lazy("commission incl. VAT"), ordering="commission_incl")
    def commission_total(self, commission):
        return format_amount(commission.commission_incl, commission.currency)
