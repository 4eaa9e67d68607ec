"""The board's invoices and statements in the portal (read-only): the residents' invoices of the association with
their dunning state (paid, unpaid, reminded, blocked by the third reminder), filtered by state and period; the
self-billing statements with their payouts; and the stored PDFs, served through the portal scoped to the chosen
organization (another organization's document, or one without a stored PDF, is a 404)."""

from django.core.paginator import Paginator
from django.db.models import Exists, Max, OuterRef
from django.shortcuts import get_object_or_404, render

from billing.admin_documents import stored_file_response
from billing.models import Invoice, Reminder, Statement
from csms.portal.access import BOARD, portal_view
from csms.portal.forms import PER_PAGE
from csms.portal.forms.reports import InvoiceFilterForm


def _resident_invoices(request):
    return (Invoice.objects.filter(organization=request.portal.organization, purpose=Invoice.Purpose.RESIDENT)
            .exclude(status=Invoice.Status.DRAFT))


def _statements(request):
    return Statement.objects.filter(organization=request.portal.organization)


def _page(request, queryset, parameter="page"):
    return Paginator(queryset, PER_PAGE).get_page(request.GET.get(parameter))


def dunning_state(invoice) -> str:
    """paid / unpaid / reminded / blocked / the stored status (credit notes, credited, cancelled) of an invoice
    annotated with ``reminder_level`` and ``tokens_blocked``."""
    if invoice.status == Invoice.Status.PAID:
        return InvoiceFilterForm.PAID
    if invoice.status != Invoice.Status.ISSUED or invoice.kind != Invoice.Kind.INVOICE:
        return invoice.status
    if invoice.tokens_blocked:
        return InvoiceFilterForm.BLOCKED
    if invoice.reminder_level:
        return InvoiceFilterForm.REMINDED
    return InvoiceFilterForm.UNPAID


@portal_view(BOARD)
def invoices(request):
    form = InvoiceFilterForm(request.GET or None)
    blocking = Reminder.objects.filter(invoice=OuterRef("pk"), level=3, unblocked_at__isnull=True)
    rows = (_resident_invoices(request).select_related("series", "buyer")
            .annotate(reminder_level=Max("reminders__level"), tokens_blocked=Exists(blocking))
            .order_by("-issue_date", "-pk"))
    if form.is_bound and form.is_valid():
        status, period = form.cleaned_data["status"], form.cleaned_data["period"]
        unpaid = rows.filter(status=Invoice.Status.ISSUED, kind=Invoice.Kind.INVOICE)
        if status == form.PAID:
            rows = rows.filter(status=Invoice.Status.PAID)
        elif status == form.UNPAID:
            # Every issued invoice still open, whether or not it was reminded.
            rows = unpaid
        elif status == form.REMINDED:
            rows = unpaid.filter(reminder_level__isnull=False, tokens_blocked=False)
        elif status == form.BLOCKED:
            rows = unpaid.filter(tokens_blocked=True)
        if period:
            rows = rows.filter(period_start__year=period.year, period_start__month=period.month)
    page = _page(request, rows)
    for invoice in page:
        invoice.state = dunning_state(invoice)
    statements = _statements(request).select_related("series", "payout").order_by("-period_start", "-pk")
    statements = _page(request, statements, "statements_page")
    query = request.GET.copy()
    query.pop("page", None)
    encoded = query.urlencode()
    return render(request, "portal/invoices/list.html",
                  {"form": form, "page": page, "statements": statements,
                   "query": f"{encoded}&" if encoded else ""},
                  status=400 if form.is_bound and form.errors else 200)


@portal_view(BOARD)
def invoice_pdf(request, pk: int):
    invoice = get_object_or_404(_resident_invoices(request).select_related("series"), pk=pk)
    return stored_file_response(invoice.pdf, f"{invoice.display_number or invoice.pk}.pdf", "application/pdf")


@portal_view(BOARD)
def statement_pdf(request, pk: int):
    statement = get_object_or_404(_statements(request).select_related("series"), pk=pk)
    return stored_file_response(statement.pdf, f"{statement.display_number}.pdf", "application/pdf")
