"""Residents' tags and bulk import, as the board does them in the portal: giving a person a tag (a new one by uid, or
one of the association's unassigned tags by uid or printed number), and the CSV import — check every row without
writing, then import them all through the ordinary services (invite, tag, group) in one transaction, so a bad file
never leaves half its rows."""

import contextlib
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from accounts import identifiers
from accounts.models import IdToken, Membership, Organization, User, UserGroup
from accounts.services import audit
from accounts.services.groups import user_group_add_members
from accounts.services.tokens import id_token_issue
from accounts.services.users import user_invite

#: Column names of the CSV file, in order.
COLUMNS = ("name", "email", "mobile", "reference", "tag_uid", "group")


@dataclass(frozen=True)
class ResidentRow:
    line: int
    name: str
    email: str
    mobile: str
    reference: str = ""
    tag_uid: str = ""
    group: str = ""


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


def _split_name(name: str) -> tuple[str, str]:
    first, _sep, last = name.strip().rpartition(" ")
    return (first, last) if first else (last, "")


def residents_import_check(*, organization: Organization, rows: list[ResidentRow]) -> list[RowError]:
    """Every problem of every row (empty: the file can be imported). Writes nothing."""
    errors: list[RowError] = []
    groups = set(UserGroup.objects.filter(organization=organization).values_list("name", flat=True))
    uids = [row.tag_uid for row in rows if row.tag_uid.strip()]
    normalized: dict[str, str] = {}
    for uid in uids:
        with contextlib.suppress(ValueError):
            normalized[uid] = identifiers.normalize_token_uid(IdToken.Type.RFID, uid)
    taken = set(IdToken.objects.filter(uid__in=list(normalized.values())).values_list("uid", flat=True))
    seen_uids: set[str] = set()
    seen_contacts: set[str] = set()
    if not rows:
        errors.append(RowError(0, _("The file has no rows.")))
    for row in rows:
        if not row.name.strip():
            errors.append(RowError(row.line, _("The name is missing.")))
        if not row.email.strip() and not row.mobile.strip():
            errors.append(RowError(row.line, _("Give an e-mail address or a mobile number.")))
        if row.email.strip():
            try:
                validate_email(row.email.strip())
            except ValidationError:
                errors.append(RowError(row.line, _("“%(email)s” is not an e-mail address.") % {"email": row.email}))
            else:
                key = row.email.strip().lower()
                if key in seen_contacts:
                    errors.append(RowError(row.line, _("The e-mail address appears on an earlier row.")))
                seen_contacts.add(key)
        if row.mobile.strip():
            try:
                mobile = identifiers.normalize_mobile_number(row.mobile, settings.PHONE_DEFAULT_REGION)
            except ValueError as exc:
                errors.append(RowError(row.line, str(exc)))
            else:
                if mobile in seen_contacts:
                    errors.append(RowError(row.line, _("The mobile number appears on an earlier row.")))
                seen_contacts.add(mobile)
        if row.tag_uid.strip():
            uid = normalized.get(row.tag_uid)
            if uid is None:
                errors.append(RowError(row.line, _("“%(uid)s” is not a tag uid.") % {"uid": row.tag_uid}))
            elif uid in taken or uid in seen_uids:
                # Whose tag it is stays private: the uid may belong to another organization.
                errors.append(RowError(row.line, _("The tag %(uid)s is already in use.") % {"uid": uid}))
            else:
                seen_uids.add(uid)
        if row.group.strip() and row.group.strip() not in groups:
            errors.append(RowError(row.line, _("There is no group “%(group)s”.") % {"group": row.group}))
        if len(row.reference) > 50:
            errors.append(RowError(row.line, _("The apartment/reference is longer than 50 characters.")))
    return errors


@transaction.atomic
def residents_import(*, organization: Organization, rows: list[ResidentRow], acting_user: User | None,
                     reason: str) -> list[User]:
    """Invite every row's person, issue their tag and put them in their group; all rows or none."""
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Say why (stored in the audit log).")})
    errors = residents_import_check(organization=organization, rows=rows)
    if errors:
        raise ValidationError([_("Line %(line)s: %(message)s") % {"line": e.line, "message": e.message}
                               for e in errors])
    groups = {group.name: group for group in UserGroup.objects.filter(organization=organization)}
    people = []
    for row in rows:
        first_name, last_name = _split_name(row.name)
        invitation = user_invite(organization=organization, email=row.email, mobile_number=row.mobile,
                                 first_name=first_name, last_name=last_name, reference=row.reference.strip(),
                                 acting_user=acting_user, reason=reason)
        if row.tag_uid.strip():
            id_token_issue(organization=organization, uid=row.tag_uid, user=invitation.user,
                           acting_user=acting_user, reason=reason)
        if row.group.strip():
            user_group_add_members(group=groups[row.group.strip()], users=[invitation.user],
                                   acting_user=acting_user, reason=reason)
        people.append(invitation.user)
    return people


@transaction.atomic
def id_token_give(*, organization: Organization, user: User, uid: str = "", visual_number: str = "",
                  acting_user: User | None, reason: str) -> IdToken:
    """Give ``user`` a tag: the organization's unassigned tag with this uid (or, without a uid, this printed
    number), else a new tag with this uid. A tag someone already has is refused without saying whose."""
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Say why (stored in the audit log).")})
    uid, visual_number = (uid or "").strip(), (visual_number or "").strip()
    if not uid and not visual_number:
        raise ValidationError({"uid": _("Give the tag's uid or its printed number.")})
    if not Membership.objects.filter(user=user, organization=organization).exists():
        raise ValidationError(_("%(person)s is not a member of %(organization)s.") % {
            "person": user, "organization": organization})
    stock = IdToken.objects.select_for_update().filter(organization=organization)
    if uid:
        try:
            normalized = identifiers.normalize_token_uid(IdToken.Type.RFID, uid)
        except ValueError as exc:
            raise ValidationError({"uid": str(exc)}) from exc
        token = stock.filter(uid=normalized).first()
        if token is None:
            return id_token_issue(organization=organization, uid=uid, user=user, visual_number=visual_number,
                                  acting_user=acting_user, reason=reason)
        field = "uid"
    else:
        matches = list(stock.filter(visual_number__iexact=visual_number)[:2])
        if not matches:
            raise ValidationError({"visual_number": _("The association has no tag with printed number %(number)s; "
                                                      "give its uid to register it.") % {"number": visual_number}})
        if len(matches) > 1:
            raise ValidationError({"visual_number": _("Several tags have printed number %(number)s; give the uid "
                                                      "instead.") % {"number": visual_number}})
        token, field = matches[0], "visual_number"
    if token.user_id is not None:
        raise ValidationError({field: _("The tag %(uid)s is already in use.") % {"uid": token.uid}})
    token.user = user
    changes = {"user": (None, user.pk)}
    if visual_number and not token.visual_number:
        token.visual_number = visual_number
        changes["visual_number"] = ("", visual_number)
    token.full_clean()
    token.save(update_fields=["user", "visual_number"])
    audit.record(action="id_token.assigned", target=token, acting_user=acting_user, reason=reason,
                 changes=changes)
    return token
