"""Connect API representations of resident and subscription invoices, credit notes, payments, self-billing statements
and their payouts. Everything shown is what billing stored: amounts as strings with two decimals next to their
currency, the VAT breakdown worked out by billing.invoice_math from the stored lines, payments and dunning state
from annotations the views add (so a list costs the same queries however many rows it has)."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing import invoice_math
from billing.models import Invoice, InvoiceLine, Payment, Payout, Statement

_ZERO = Decimal("0.00")
def money(help_text: str = "", **kwargs) -> serializers.DecimalField:
    """An amount as a string with two decimals ("23.75"), read-only; its currency is the object's ``currency``."""
    return serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True, read_only=True,
                                    help_text=help_text, **kwargs)


class InvoiceLineSerializer(serializers.ModelSerializer):
    session = serializers.IntegerField(source="session_id", read_only=True, allow_null=True,
                                       help_text="The charging session's database id (session lines).")
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3, coerce_to_string=True, read_only=True)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=5, coerce_to_string=True, read_only=True,
                                          help_text="Incl. VAT, five decimals.")
    amount = money("Incl. VAT.")
    vat_rate = serializers.DecimalField(max_digits=5, decimal_places=2, coerce_to_string=True, read_only=True,
                                        help_text="Percent.")

    class Meta:
        model = InvoiceLine
        fields = ["position", "kind", "description", "session", "started_at", "energy_wh", "quantity", "unit",
                  "unit_price", "amount", "vat_rate"]
        read_only_fields = fields


class VatGroupSerializer(serializers.Serializer):
    rate = serializers.DecimalField(max_digits=5, decimal_places=2, coerce_to_string=True, help_text="Percent.")
    total = money("Incl. VAT.")
    vat = money()
    taxable = money("Excl. VAT.")


class DunningSerializer(serializers.Serializer):
    reminder_level = serializers.IntegerField(allow_null=True, help_text="Highest reminder sent (1–3), or null.")
    last_reminder_on = serializers.DateField(allow_null=True, help_text="Date of the newest reminder.")
    tags_blocked = serializers.BooleanField(help_text="True while the third reminder keeps the buyer's tags "
                                                      "blocked (until payment or a person unblocks them).")


class InvoiceSerializer(serializers.ModelSerializer):
    number = serializers.CharField(source="display_number", read_only=True,
                                   help_text="The printed invoice number (series prefix + number); empty on a draft.")
    buyer = serializers.IntegerField(source="buyer_id", read_only=True, allow_null=True,
                                     help_text="The resident's user id; null on a subscription invoice.")
    organization = serializers.IntegerField(source="organization_id", read_only=True,
                                            help_text="The association whose claim it is (the buyer of a "
                                                      "subscription invoice).")
    credit_note_of = serializers.IntegerField(source="credits_id", read_only=True, allow_null=True,
                                              help_text="On a credit note: the id of the invoice it credits.")
    credit_notes = serializers.SerializerMethodField(help_text="Ids of the credit notes crediting this invoice.")
    total = money("Total incl. VAT (sum of the lines).")
    vat = money("VAT in the total.")
    taxable = money("Total excl. VAT.")
    rounding = money("Öresutjämning: what rounding to whole kronor added (negative: took off).")
    payable_total = money("Total plus rounding: what settles the invoice.")
    amount_paid = money("What payments (credit balance used included) applied to the invoice.")
    amount_due = serializers.SerializerMethodField(
        help_text="Still unpaid; null on a credit note, a draft or a cancelled or credited invoice.")
    vat_breakdown = serializers.SerializerMethodField(help_text="Per VAT rate, highest first.")
    dunning = serializers.SerializerMethodField()
    ocr = serializers.CharField(read_only=True, help_text="The Bankgiro OCR reference to pay with.")
    has_pdf = serializers.SerializerMethodField(help_text="True when GET …/pdf/ has a document to give.")
    lines = InvoiceLineSerializer(many=True, read_only=True)

    class Meta:
        model = Invoice
        fields = ["id", "number", "kind", "purpose", "status", "buyer", "organization", "credit_note_of",
                  "credit_notes", "period_start", "period_end", "issue_date", "due_date", "currency", "total", "vat",
                  "taxable", "rounding", "payable_total", "amount_paid", "amount_due", "vat_breakdown", "ocr",
                  "dunning", "reason", "sent_at", "created_at", "has_pdf", "lines"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_credit_notes(self, invoice: Invoice) -> list[int]:
        return [note.pk for note in invoice.credit_notes.all()]

    @extend_schema_field(serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True))
    def get_amount_due(self, invoice: Invoice) -> str | None:
        if invoice.kind != Invoice.Kind.INVOICE or invoice.status not in (Invoice.Status.ISSUED, Invoice.Status.PAID):
            return None
        return str(max(invoice.payable_total - invoice.amount_paid, _ZERO).quantize(Decimal("0.01")))

    @extend_schema_field(VatGroupSerializer(many=True))
    def get_vat_breakdown(self, invoice: Invoice) -> list[dict]:
        lines = [invoice_math.InvoiceLine(description=line.description, quantity=line.quantity, unit=line.unit,
                                          unit_price=line.unit_price, vat_rate=line.vat_rate, amount=line.amount)
                 for line in invoice.lines.all()]
        groups = invoice_math.invoice_totals(lines=lines).vat_groups if lines else ()
        return VatGroupSerializer(groups, many=True).data

    @extend_schema_field(DunningSerializer)
    def get_dunning(self, invoice: Invoice) -> dict:
        return DunningSerializer({"reminder_level": invoice.reminder_level,
                                  "last_reminder_on": invoice.last_reminder_on,
                                  "tags_blocked": bool(invoice.tags_blocked)}).data

    @extend_schema_field(serializers.BooleanField())
    def get_has_pdf(self, invoice: Invoice) -> bool:
        return bool(invoice.pdf)


class PaymentSerializer(serializers.ModelSerializer):
    invoice = serializers.IntegerField(source="invoice_id", read_only=True, allow_null=True)
    buyer = serializers.IntegerField(source="buyer_id", read_only=True, allow_null=True,
                                     help_text="The payer's user id.")
    method = serializers.CharField(source="channel", read_only=True,
                                   help_text="Where the money came from: stripe, bankgiro, swish, manual, or credit "
                                             "(the credit balance).")
    amount = money("Money received (negative: paid back; 0.00 when only the credit balance moved).")
    applied = money("What counts towards the invoice.")
    credited = money("What went to (positive) or came from (negative) the payer's credit balance.")
    received_at = serializers.DateTimeField(source="paid_at", read_only=True)
    refund_of = serializers.IntegerField(source="refund_of_id", read_only=True, allow_null=True,
                                         help_text="On a refund: the id of the payment paid back.")

    class Meta:
        model = Payment
        fields = ["id", "kind", "method", "amount", "applied", "credited", "currency", "invoice", "buyer",
                  "external_id", "received_at", "recorded_at", "refund_of"]
        read_only_fields = fields


class PayoutSerializer(serializers.ModelSerializer):
    amount = money()
    payout_date = serializers.DateField(source="due_date", read_only=True)

    class Meta:
        model = Payout
        fields = ["id", "status", "method", "amount", "currency", "payout_date", "executed_at", "attempts"]
        read_only_fields = fields


class StatementSerializer(serializers.ModelSerializer):
    number = serializers.CharField(source="display_number", read_only=True)
    organization = serializers.IntegerField(source="organization_id", read_only=True)
    personal_amount = money("Personal charging incl. VAT.")
    public_amount = money("Public charging incl. VAT.")
    roaming_amount = money("Roaming charging as charged.")
    roaming_share = serializers.DecimalField(max_digits=5, decimal_places=2, coerce_to_string=True, read_only=True,
                                             help_text="Percent of roaming paid out.")
    total_amount = money("All charging incl. VAT.")
    board_fees = money("The board's fees incl. VAT.")
    fee_excl = money("The operator's fee excl. VAT.")
    fee_vat = money()
    fee_incl = money()
    payout_excl = money()
    payout_vat = money()
    payout_incl = money("What is paid out to the association.")
    payout = serializers.SerializerMethodField(help_text="The payout executing this statement, or null.")
    has_pdf = serializers.SerializerMethodField(help_text="True when GET …/pdf/ has a document to give.")

    class Meta:
        model = Statement
        fields = ["id", "number", "organization", "status", "period_start", "period_end", "issue_date",
                  "payout_date", "payout_reference", "basis", "vat_exempt", "currency", "personal_wh",
                  "personal_amount", "public_wh", "public_amount", "roaming_amount", "roaming_share", "total_wh",
                  "total_amount", "board_fees", "fee_excl", "fee_vat", "fee_incl", "payout_excl", "payout_vat",
                  "payout_incl", "payout", "sent_at", "created_at", "has_pdf"]
        read_only_fields = fields

    @extend_schema_field(PayoutSerializer(allow_null=True))
    def get_payout(self, statement: Statement) -> dict | None:
        try:
            payout = statement.payout
        except Payout.DoesNotExist:
            return None
        return PayoutSerializer(payout).data

    @extend_schema_field(serializers.BooleanField())
    def get_has_pdf(self, statement: Statement) -> bool:
        return bool(statement.pdf)
