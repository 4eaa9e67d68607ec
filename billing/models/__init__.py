"""The billing models, one module per area:

- tariffs: tariffs, their revisions and assignments, spot prices and their gaps, the price of each session
- invoices: resident invoices and credit notes, their lines, number series, the boards' monthly fees
- payouts: fee plans, billing profiles, self-billing statements and their rows, payouts and bank payout files
- adhoc: ad-hoc card payments through an EVSE's QR code, vouchers
- payments: payments and refunds, Stripe events, Bankgiro imports, the matching queue, reminders, saved cards, Swish
"""

from billing.models.adhoc import AdhocPayment, Voucher
from billing.models.fields import CURRENCY_CHOICES, UNIT_PRICE
from billing.models.invoices import Invoice, InvoiceLine, InvoiceSeries, RecurringFee
from billing.models.payments import (
    Payment,
    PaymentImport,
    Reminder,
    StripeCustomer,
    StripeEvent,
    SwishPaymentRequest,
    UnmatchedPayment,
)
from billing.models.payouts import (
    BillingProfile,
    CommissionStatement,
    FeePlan,
    Payout,
    PayoutBasis,
    PayoutFile,
    Statement,
    StatementInvoice,
    StatementSession,
    SubscriptionPlan,
)
from billing.models.tariffs import SessionCost, SpotPrice, SpotPriceGap, Tariff, TariffAssignment, TariffRevision

__all__ = [
    "AdhocPayment",
    "Voucher",
    "BillingProfile",
    "CommissionStatement",
    "FeePlan",
    "Payout",
    "PayoutBasis",
    "PayoutFile",
    "Statement",
    "StatementInvoice",
    "StatementSession",
    "SubscriptionPlan",
    "CURRENCY_CHOICES",
    "UNIT_PRICE",
    "Invoice",
    "InvoiceLine",
    "InvoiceSeries",
    "Payment",
    "PaymentImport",
    "RecurringFee",
    "Reminder",
    "SessionCost",
    "SpotPrice",
    "SpotPriceGap",
    "StripeCustomer",
    "StripeEvent",
    "SwishPaymentRequest",
    "Tariff",
    "TariffAssignment",
    "TariffRevision",
    "UnmatchedPayment",
]
