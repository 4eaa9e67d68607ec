"""Billing admin for ad-hoc QR charging: the ad-hoc card payments (read-only: the public pages and the settling
service write them) and vouchers (created here through billing.services.vouchers with a reason; afterwards only
the note and the end date change, audited; the balance is the settling service's)."""

from django.contrib import admin

from accounts.admin_base import REASON_FIELD, AuditedAdmin, ReadOnlyAdminMixin, TenantScopedAdmin
from billing.models import AdhocPayment, Voucher
from billing.services import vouchers


@admin.register(AdhocPayment)
class AdhocPaymentAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ("created_at", "organization", "evse", "status", "session_cost", "voucher_amount",
                    "captured_amount", "operator_loss", "email")
    list_filter = ("status", "organization")
    list_select_related = ("organization", "evse__charge_point")
    search_fields = ("email", "payment_intent_id", "evse__charge_point__identity")
    date_hierarchy = "created_at"
    exclude = ("receipt_token",)


@admin.register(Voucher)
class VoucherAdmin(AuditedAdmin):
    list_display = ("code", "organization", "kind", "amount", "energy_wh", "remaining_amount", "remaining_wh",
                    "valid_until", "created_at")
    list_filter = ("kind", "organization")
    list_select_related = ("organization",)
    search_fields = ("code", "note")
    fields = ("organization", "code", "kind", "currency", "amount", "energy_wh", "valid_until", "note",
              "remaining_amount", "remaining_wh", "created_by", "created_at")

    def get_readonly_fields(self, request, obj=None):
        always = ("remaining_amount", "remaining_wh", "created_by", "created_at")
        if obj is None:
            return always
        return (*always, "organization", "code", "kind", "currency", "amount", "energy_wh")

    def has_delete_permission(self, request, obj=None):
        return False  # a voucher paid sessions: its history stays

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        created = vouchers.voucher_create(
            organization=form.cleaned_data["organization"], code=form.cleaned_data["code"],
            kind=form.cleaned_data["kind"], amount=form.cleaned_data.get("amount"),
            energy_wh=form.cleaned_data.get("energy_wh"), valid_until=form.cleaned_data.get("valid_until"),
            note=form.cleaned_data.get("note", ""), acting_user=request.user,
            reason=form.cleaned_data.get(REASON_FIELD, ""))
        obj.pk = created.pk
        obj.refresh_from_db()
