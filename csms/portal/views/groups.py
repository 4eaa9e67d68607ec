"""The board's "Groups & prices" pages: user groups (create, rename, members), the price each group pays at all
stations or at one station (tariffs assigned to the group, also free of charge, changes scheduled from a future
date, the 7 % / 30 days' notice rule explained) and the monthly fees put on residents' invoices."""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import UserGroup
from accounts.services.groups import user_group_create, user_group_update
from billing.models import RecurringFee, Tariff, TariffAssignment
from billing.price_rules import NOTICE_PERIOD
from billing.services.fees import recurring_fee_create, recurring_fee_end
from billing.services.tariffs import assignment_end, tariff_assign, tariff_create
from csms.portal.access import BOARD, portal_view
from csms.portal.forms import PER_PAGE, apply_errors
from csms.portal.forms.groups import EndForm, FeeEndForm, FeeForm, GroupForm, PriceForm, TariffForm


def _start_of(day, now: datetime) -> datetime:
    """A chosen day as the moment a price starts: today means now, a later day its first moment (local time)."""
    if day == timezone.localdate(now):
        return now
    return timezone.make_aware(datetime.combine(day, time.min))


def first_notice_day(now: datetime):
    """The first day whose start lies 30 days or more after ``now`` (local time)."""
    earliest = timezone.localtime(now + NOTICE_PERIOD)
    return earliest.date() if earliest.time() == time.min else earliest.date() + timedelta(days=1)


def _group_assignments(now: datetime):
    """A group's prices that are in force or scheduled, by start."""
    return (TariffAssignment.objects.filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
            .select_related("tariff", "charge_point").order_by("valid_from", "pk"))


def _group(request, pk):
    return get_object_or_404(UserGroup.objects.filter(organization=request.portal.organization), pk=pk)


@portal_view(BOARD)
def groups(request):
    organization, now = request.portal.organization, timezone.now()
    queryset = (UserGroup.objects.filter(organization=organization).annotate(member_count=Count("members"))
                .prefetch_related(Prefetch("tariff_assignments", queryset=_group_assignments(now),
                                           to_attr="prices"))
                .order_by("name", "pk"))
    page = Paginator(queryset, PER_PAGE).get_page(request.GET.get("page"))
    tariffs = Tariff.objects.filter(organization=organization).order_by("-is_active", "name")
    return render(request, "portal/groups/list.html", {"page": page, "tariffs": tariffs, "now": now})


@portal_view(BOARD)
def group_create(request):
    form = GroupForm(request.POST or None, initial={"reason": _("New group")})
    if request.method == "POST":
        request.portal.require_change()
        if form.is_valid():
            try:
                group = user_group_create(organization=request.portal.organization, name=form.cleaned_data["name"],
                                          description=form.cleaned_data["description"], acting_user=request.user,
                                          reason=form.cleaned_data["reason"])
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("Group %(name)s is created.") % {"name": group.name})
                return redirect("portal:groups_group", pk=group.pk)
    return render(request, "portal/groups/form.html", {"form": form, "title": _("New group")})


def _group_page(request, group, status=200, **forms):
    organization, now = request.portal.organization, timezone.now()
    members = Paginator(group.members.order_by("last_name", "first_name", "email", "pk"), PER_PAGE
                        ).get_page(request.GET.get("page"))
    prices = list(TariffAssignment.objects.filter(user_group=group).select_related("tariff", "charge_point")
                  .order_by("-valid_from", "-pk")[:100])
    for price in prices:
        price.state = ("ended" if price.valid_until is not None and price.valid_until <= now
                       else "scheduled" if price.valid_from > now else "current")
    return render(request, "portal/groups/group.html", {
        "group": group, "members": members, "prices": prices,
        "rename_form": forms.get("rename_form") or GroupForm(initial={"name": group.name,
                                                                     "description": group.description}),
        "price_form": forms.get("price_form") or PriceForm(organization=organization,
                                                           initial={"valid_from": timezone.localdate(now)}),
        "end_form": forms.get("end_form") or EndForm(),
        "end_assignment": forms.get("end_assignment"),
    }, status=status)


@portal_view(BOARD)
def group(request, pk):
    return _group_page(request, _group(request, pk))


@require_POST
@portal_view(BOARD)
def group_rename(request, pk):
    request.portal.require_change()
    group = _group(request, pk)
    form = GroupForm(request.POST)
    if form.is_valid():
        try:
            user_group_update(group=group, name=form.cleaned_data["name"],
                              description=form.cleaned_data["description"], acting_user=request.user,
                              reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The group is saved."))
            return redirect("portal:groups_group", pk=group.pk)
    return _group_page(request, group, rename_form=form)


def _explain_notice(form, exc: ValidationError, group: UserGroup, valid_from: datetime, now: datetime) -> None:
    """Put the service's refusal on the form; the notice rule's one in plain words with the first allowed day."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {}
    same_start = TariffAssignment.objects.filter(user_group=group, valid_from=valid_from).exists()
    if "valid_from" in errors and valid_from >= now - timedelta(minutes=5) and valid_from < now + NOTICE_PERIOD \
            and not same_start:
        day = formats.date_format(first_notice_day(now), "j M Y")
        form.add_error("valid_from", _("A price increase of more than 7 %% must be announced 30 days ahead: choose a "
                                       "date from %(date)s.") % {"date": day})
        # The service's own wording of the same refusal (instants, raw prices) would only repeat it.
        exc = ValidationError({field: texts for field, texts in errors.items() if field != "valid_from"})
        if not exc.error_dict:
            return
    apply_errors(form, exc)


@require_POST
@portal_view(BOARD)
def group_price(request, pk):
    request.portal.require_change()
    group, now = _group(request, pk), timezone.now()
    form = PriceForm(request.POST, organization=request.portal.organization)
    if form.is_valid():
        data = form.cleaned_data
        valid_from = _start_of(data["valid_from"], now)
        try:
            tariff_assign(tariff=data["tariff"], valid_from=valid_from, charge_point=data["charge_point"],
                          user_group=group, acting_user=request.user, reason=data["reason"], now=now)
        except ValidationError as exc:
            _explain_notice(form, exc, group, valid_from, now)
        else:
            messages.success(request, _("The group's price is saved."))
            return redirect("portal:groups_group", pk=group.pk)
    return _group_page(request, group, price_form=form)


@require_POST
@portal_view(BOARD)
def price_end(request, pk):
    request.portal.require_change()
    assignment = get_object_or_404(TariffAssignment.objects.filter(
        organization=request.portal.organization, user_group__isnull=False).select_related("user_group"), pk=pk)
    now = timezone.now()
    form = EndForm(request.POST)
    if form.is_valid():
        try:
            assignment_end(assignment=assignment, at=_start_of(form.cleaned_data["valid_until"], now),
                           acting_user=request.user, reason=form.cleaned_data["reason"], now=now)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The group's price ends as chosen."))
            return redirect("portal:groups_group", pk=assignment.user_group_id)
    return _group_page(request, assignment.user_group, end_form=form, end_assignment=assignment)


@portal_view(BOARD)
def tariff_new(request):
    form = TariffForm(request.POST or None, initial={"reason": _("New group price")})
    if request.method == "POST":
        request.portal.require_change()
        if form.is_valid():
            data = form.cleaned_data
            try:
                tariff = tariff_create(organization=request.portal.organization, name=data["name"],
                                       currency=data["currency"], acting_user=request.user, reason=data["reason"],
                                       **form.tariff_values())
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("Price %(name)s is created; assign it to a group.") % {
                    "name": tariff.name})
                return redirect("portal:groups")
    return render(request, "portal/groups/form.html", {"form": form, "title": _("New price")})


@portal_view(BOARD)
def fees(request):
    organization = request.portal.organization
    form = FeeForm(request.POST or None, initial={"reason": _("Decided by the board")})
    if request.method == "POST":
        request.portal.require_change()
        if form.is_valid():
            data = form.cleaned_data
            try:
                fee = recurring_fee_create(organization=organization, name=data["name"], amount=data["amount"],
                                           vat_rate=data["vat_rate"], acting_user=request.user,
                                           reason=data["reason"])
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("Monthly fee %(name)s is added.") % {"name": fee.name})
                return redirect("portal:groups_fees")
    page = Paginator(RecurringFee.objects.filter(organization=organization).order_by("-is_active", "name", "pk"),
                     PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "portal/groups/fees.html", {"form": form, "page": page, "end_form": FeeEndForm(),
                                                       "currency": settings.DEFAULT_CURRENCY})


@require_POST
@portal_view(BOARD)
def fee_end(request, pk):
    request.portal.require_change()
    fee = get_object_or_404(RecurringFee.objects.filter(organization=request.portal.organization), pk=pk)
    form = FeeEndForm(request.POST)
    if form.is_valid():
        recurring_fee_end(fee=fee, acting_user=request.user, reason=form.cleaned_data["reason"])
        messages.success(request, _("Monthly fee %(name)s is ended.") % {"name": fee.name})
    else:
        messages.error(request, " ".join(form.errors.get("reason", [])))
    return redirect("portal:groups_fees")
