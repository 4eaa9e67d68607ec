"""A resident's self-service pages: their own charging sessions (by month), invoices with the pay link and PDF,
the saved card, their tags (block a lost one) and their bookings. Every row is the signed-in person's own in the
chosen organization: anyone else's id is a 404."""

from datetime import datetime, time, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Max
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import IdToken
from accounts.services.tokens import id_token_block
from billing.models import Invoice, StripeCustomer
from billing.services.payments import card_remove, pay_token
from charging.models import Booking, ChargingSession, Evse
from charging.services.bookings import booking_cancel, booking_create
from csms.portal.access import RESIDENT, portal_view
from csms.portal.forms import PER_PAGE, apply_errors
from csms.portal.forms.bookings import BookingForm, MonthForm, OptionalReasonForm, TagBlockForm

ROLE = {RESIDENT}


def _page(request, queryset):
    return Paginator(queryset, PER_PAGE).get_page(request.GET.get("page"))


def _month_span(month) -> tuple[datetime, datetime]:
    """The local calendar month starting on date ``month`` as aware datetimes [start, end)."""
    start = timezone.make_aware(datetime.combine(month.replace(day=1), time()))
    following = (month.replace(day=1) + timedelta(days=32)).replace(day=1)
    return start, timezone.make_aware(datetime.combine(following, time()))


@portal_view(ROLE)
def my_sessions(request):
    form = MonthForm(request.GET or None)
    sessions = (ChargingSession.objects.filter(organization=request.portal.organization, user=request.user)
                .select_related("evse__charge_point", "cost").order_by("-started_at", "-pk"))
    query = ""
    if form.is_valid() and form.cleaned_data["month"]:
        start, end = _month_span(form.cleaned_data["month"])
        sessions = sessions.filter(started_at__gte=start, started_at__lt=end)
        query = f"month={start:%Y-%m}&"
    return render(request, "portal/resident/sessions.html",
                  {"form": form, "page": _page(request, sessions), "query": query},
                  status=400 if form.is_bound and form.errors else 200)


def _own_invoices(request):
    return (Invoice.objects.filter(organization=request.portal.organization, buyer=request.user)
            .exclude(status__in=[Invoice.Status.DRAFT, Invoice.Status.CANCELLED]))


@portal_view(ROLE)
def my_invoices(request):
    invoices = (_own_invoices(request).select_related("series").order_by("-issue_date", "-pk")
                .annotate(reminder_level=Max("reminders__level")))
    page = _page(request, invoices)
    today = timezone.localdate()
    for invoice in page:
        invoice.payable = invoice.kind == Invoice.Kind.INVOICE and invoice.status == Invoice.Status.ISSUED
        invoice.overdue = invoice.payable and invoice.due_date is not None and invoice.due_date < today
        invoice.pay_link = reverse("billing:pay", args=[pay_token(invoice)]) if invoice.payable else ""
    card = StripeCustomer.objects.filter(user=request.user).exclude(payment_method_id="").first()
    return render(request, "portal/resident/invoices.html",
                  {"page": page, "card": card, "remove_form": OptionalReasonForm()})


@portal_view(ROLE)
def my_invoice_pdf(request, pk: int):
    invoice = get_object_or_404(_own_invoices(request), pk=pk)
    if not invoice.pdf:
        raise Http404(_("This invoice has no PDF yet."))
    return FileResponse(invoice.pdf.open("rb"), content_type="application/pdf",
                        filename=f"{invoice.ocr or invoice.pk}.pdf")


@require_POST
@portal_view(ROLE)
def my_card_remove(request):
    form = OptionalReasonForm(request.POST)
    reason = (form.cleaned_data["reason"] if form.is_valid() else "") or _("Removed by the resident in the portal")
    if card_remove(user=request.user, acting_user=request.user, reason=reason,
                   organization=request.portal.organization):
        messages.success(request, _("Your saved card is removed: invoices are no longer charged automatically."))
    else:
        messages.info(request, _("You have no saved card."))
    return redirect("portal:my_invoices")


def _own_tags(request):
    return IdToken.objects.filter(organization=request.portal.organization, user=request.user)


def _tags_page(request, block_form=None, blocking=None):
    tags = _own_tags(request).order_by("uid")
    status = 400 if block_form is not None else 200
    return render(request, "portal/resident/tags.html",
                  {"tags": tags, "block_form": block_form or TagBlockForm(), "blocking": blocking,
                   "active": IdToken.Status.ACTIVE}, status=status)


@portal_view(ROLE)
def my_tags(request):
    return _tags_page(request)


@require_POST
@portal_view(ROLE)
def my_tag_block(request, pk: int):
    token = get_object_or_404(_own_tags(request), pk=pk)
    form = TagBlockForm(request.POST)
    if form.is_valid():
        try:
            id_token_block(token=token, reason=form.cleaned_data["reason"], acting_user=request.user)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Tag %(uid)s is blocked: it can no longer start charging.") % {
                "uid": token.visual_number or token.uid})
            return redirect("portal:my_tags")
    return _tags_page(request, block_form=form, blocking=token.pk)


def _bookable_evses(request):
    return (Evse.objects.filter(charge_point__organization=request.portal.organization,
                                charge_point__decommissioned_at__isnull=True)
            .select_related("charge_point").order_by("charge_point__display_name", "charge_point__identity",
                                                     "evse_id"))


def _own_bookings(request):
    return Booking.objects.filter(user=request.user, evse__charge_point__organization=request.portal.organization)


@portal_view(ROLE)
def my_bookings(request):
    form = BookingForm(request.POST or None, evses=_bookable_evses(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            booking_create(evse=data["evse"], user=request.user, starts_at=data["starts_at"],
                           ends_at=data["ends_at"], acting_user=request.user,
                           reason=_("Booked by the resident in the portal"), now=timezone.now())
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Your booking is saved."))
            return redirect("portal:my_bookings")
    bookings = _own_bookings(request).select_related("evse__charge_point").order_by("-starts_at", "-pk")
    return render(request, "portal/resident/bookings.html",
                  {"form": form, "page": _page(request, bookings), "booked": Booking.Status.BOOKED,
                   "cancel_form": OptionalReasonForm()},
                  status=400 if form.is_bound and form.errors else 200)


@require_POST
@portal_view(ROLE)
def my_booking_cancel(request, pk: int):
    booking = get_object_or_404(_own_bookings(request), pk=pk)
    form = OptionalReasonForm(request.POST)
    reason = (form.cleaned_data["reason"] if form.is_valid() else "") or _("Cancelled by the resident in the portal")
    try:
        booking_cancel(booking=booking, acting_user=request.user, reason=reason, now=timezone.now())
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Your booking is cancelled."))
    return redirect("portal:my_bookings")
