"""The board's "Users & tags" pages: the organization's people with their tags, groups and role (searchable,
paginated), inviting a person, issuing/blocking/unblocking tags, moving people between groups and the CSV import of
residents. Board viewers look; only admins change."""

import contextlib
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import identifiers
from accounts.models import IdToken, Membership, UserGroup
from accounts.services.groups import user_group_add_members, user_group_remove_members
from accounts.services.residents import COLUMNS, id_token_give, residents_import, residents_import_check
from accounts.services.tokens import id_token_block, id_token_unblock
from accounts.services.users import user_invite
from csms.portal.access import BOARD, portal_view
from csms.portal.forms import PER_PAGE, apply_errors
from csms.portal.forms.people import GroupMoveForm, ImportForm, InviteForm, SearchForm, TagAssignForm, TagBlockForm

#: The roles a board manages here (operator support staff are not the association's people).
LISTED_ROLES = (Membership.Role.RESIDENT, Membership.Role.ORG_ADMIN, Membership.Role.ORG_VIEWER)
SAMPLE_CSV = ("name,email,mobile,reference,tag_uid,group\r\n"
              "Anna Andersson,anna@example.se,070-123 45 67,1101,04A23B1C,\r\n"
              "Bo Berg,,+46701234568,1102,,\r\n")


def _memberships(organization):
    org_tokens = IdToken.objects.filter(organization=organization).order_by("uid")
    org_groups = UserGroup.objects.filter(organization=organization).order_by("name")
    return (Membership.objects.filter(organization=organization, role__in=LISTED_ROLES)
            .select_related("user")
            .prefetch_related(Prefetch("user__id_tokens", queryset=org_tokens, to_attr="org_tokens"),
                              Prefetch("user__user_groups", queryset=org_groups, to_attr="org_groups")))


def _search(queryset, organization, text: str):
    text = text.strip()
    if not text:
        return queryset
    uids = {text}
    with contextlib.suppress(ValueError):
        uids.add(identifiers.normalize_token_uid(IdToken.Type.RFID, text))
    tokens = IdToken.objects.filter(organization=organization, user=OuterRef("user")).filter(
        Q(uid__in=uids) | Q(uid__icontains=text) | Q(visual_number__iexact=text))
    match = (Q(user__first_name__icontains=text) | Q(user__last_name__icontains=text)
             | Q(user__email__icontains=text) | Q(user__mobile_number__icontains=text.replace(" ", ""))
             | Q(reference__iexact=text))
    with contextlib.suppress(ValueError):
        match |= Q(user__mobile_number=identifiers.normalize_mobile_number(text, settings.PHONE_DEFAULT_REGION))
    parts = text.split()
    if len(parts) > 1:
        match |= Q(user__first_name__icontains=parts[0], user__last_name__icontains=parts[-1])
    return queryset.filter(match | Q(Exists(tokens)))


@portal_view(BOARD)
def people(request):
    organization = request.portal.organization
    search = SearchForm(request.GET)
    text = search.cleaned_data["q"] if search.is_valid() else ""
    queryset = _search(_memberships(organization), organization, text).order_by(
        "user__last_name", "user__first_name", "user__email", "pk")
    page = Paginator(queryset, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "portal/people/list.html", {"search": search, "page": page, "q": text,
                                                       "query": urlencode({"q": text}) + "&" if text else ""})


def _person_page(request, membership, status=200, **forms):
    organization = request.portal.organization
    membership = _memberships(organization).get(pk=membership.pk)
    context = {
        "membership": membership, "person": membership.user,
        "tag_form": forms.get("tag_form") or TagAssignForm(),
        "group_form": forms.get("group_form") or GroupMoveForm(organization=organization),
        "block_form": forms.get("block_form") or TagBlockForm(),
        "block_token": forms.get("block_token"),
    }
    return render(request, "portal/people/person.html", context, status=status)


def _membership(request, pk):
    return get_object_or_404(Membership.objects.filter(organization=request.portal.organization,
                                                       role__in=LISTED_ROLES), pk=pk)


def _token(request, pk):
    return get_object_or_404(IdToken.objects.filter(organization=request.portal.organization), pk=pk)


@portal_view(BOARD)
def person(request, pk):
    return _person_page(request, _membership(request, pk))


@portal_view(BOARD)
def person_invite(request):
    form = InviteForm(request.POST or None)
    if request.method == "POST":
        request.portal.require_change()
        if form.is_valid():
            data = form.cleaned_data
            try:
                invitation = user_invite(organization=request.portal.organization, email=data["email"],
                                         mobile_number=data["mobile_number"], first_name=data["first_name"],
                                         last_name=data["last_name"], reference=data["reference"],
                                         acting_user=request.user, reason=data["reason"])
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("%(person)s is invited.") % {"person": invitation.user})
                return redirect("portal:people_person", pk=invitation.membership.pk)
    return render(request, "portal/people/invite.html", {"form": form})


@require_POST
@portal_view(BOARD)
def tag_assign(request, pk):
    request.portal.require_change()
    membership = _membership(request, pk)
    form = TagAssignForm(request.POST)
    if form.is_valid():
        try:
            token = id_token_give(organization=request.portal.organization, user=membership.user,
                                  uid=form.cleaned_data["uid"], visual_number=form.cleaned_data["visual_number"],
                                  acting_user=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Tag %(uid)s is now %(person)s's.") % {"uid": token.uid,
                                                                                 "person": membership.user})
            return redirect("portal:people_person", pk=membership.pk)
    return _person_page(request, membership, tag_form=form)


@require_POST
@portal_view(BOARD)
def tag_block(request, pk):
    request.portal.require_change()
    token = _token(request, pk)
    form = TagBlockForm(request.POST)
    if form.is_valid():
        try:
            id_token_block(token=token, reason=form.cleaned_data["reason"], acting_user=request.user)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Tag %(uid)s is blocked.") % {"uid": token.uid})
            return _back_to_owner(request, token)
    return _token_form_invalid(request, token, form)


@require_POST
@portal_view(BOARD)
def tag_unblock(request, pk):
    request.portal.require_change()
    token = _token(request, pk)
    form = TagBlockForm(request.POST)
    if form.is_valid():
        id_token_unblock(token=token, reason=form.cleaned_data["reason"], acting_user=request.user)
        messages.success(request, _("Tag %(uid)s may charge again.") % {"uid": token.uid})
        return _back_to_owner(request, token)
    return _token_form_invalid(request, token, form)


def _token_form_invalid(request, token, form):
    membership = Membership.objects.filter(organization=token.organization, user=token.user_id,
                                           role__in=LISTED_ROLES).first()
    if membership is None:
        messages.error(request, " ".join(form.errors.get("reason", [])))
        return redirect("portal:people")
    return _person_page(request, membership, block_form=form, block_token=token)


def _back_to_owner(request, token):
    membership = Membership.objects.filter(organization=token.organization, user=token.user_id,
                                           role__in=LISTED_ROLES).first()
    if membership is None:
        return redirect("portal:people")
    return redirect("portal:people_person", pk=membership.pk)


@require_POST
@portal_view(BOARD)
def person_groups(request, pk):
    request.portal.require_change()
    membership = _membership(request, pk)
    form = GroupMoveForm(request.POST, organization=request.portal.organization)
    if form.is_valid():
        group, reason = form.cleaned_data["group"], form.cleaned_data["reason"]
        try:
            if form.cleaned_data["action"] == GroupMoveForm.ADD:
                user_group_add_members(group=group, users=[membership.user], acting_user=request.user,
                                       reason=reason)
                messages.success(request, _("Added to %(group)s.") % {"group": group.name})
            else:
                user_group_remove_members(group=group, users=[membership.user], acting_user=request.user,
                                          reason=reason)
                messages.success(request, _("Taken out of %(group)s.") % {"group": group.name})
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            return redirect("portal:people_person", pk=membership.pk)
    return _person_page(request, membership, group_form=form)


@portal_view(BOARD)
def people_import(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    row_errors, rows = [], None
    if request.method == "POST":
        request.portal.require_change()
        if form.is_valid():
            organization = request.portal.organization
            rows = form.cleaned_data["file"]
            row_errors = residents_import_check(organization=organization, rows=rows)
            if not row_errors and form.cleaned_data["confirm"]:
                try:
                    people_added = residents_import(organization=organization, rows=rows, acting_user=request.user,
                                                    reason=form.cleaned_data["reason"])
                except ValidationError as exc:
                    apply_errors(form, exc)
                else:
                    messages.success(request, _("%(count)s people imported and invited.") % {
                        "count": len(people_added)})
                    return redirect("portal:people")
    return render(request, "portal/people/import.html", {
        "form": form, "rows": rows, "row_errors": row_errors, "columns": COLUMNS})


@portal_view(BOARD)
def people_import_sample(request):
    response = HttpResponse(SAMPLE_CSV, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="residents-sample.csv"'
    return response
