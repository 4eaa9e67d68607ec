"""Connect API endpoints for people: users (as the caller's organizations know them), memberships (invite by
e-mail or mobile number, change role), ID tokens (issue, block, unblock) and user groups (and their members).

Every queryset starts from ``scope_for``: another organization's id answers 404, and an id given in a body is looked
up the same way (a 400 naming the field). Writes go through accounts.services.
"""

from contextlib import suppress

import django_filters
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts import identifiers
from accounts.models import ApiKey, IdToken, Membership, Organization, User, UserGroup
from accounts.services import groups as group_services
from accounts.services import tokens as token_services
from accounts.services import users as user_services
from accounts.tenancy import organizations_seen_by, visible_organization_ids
from csms.api.authentication import scope_for
from csms.api.errors import as_api_error
from csms.api.fields import IdFilter
from csms.api.serializers.people import (
    GroupMembersResultSerializer,
    GroupMembersSerializer,
    IdTokenIssueSerializer,
    IdTokenSerializer,
    InviteSerializer,
    MembershipRoleSerializer,
    MembershipSerializer,
    RequiredReasonSerializer,
    UserGroupCreateSerializer,
    UserGroupSerializer,
    UserGroupUpdateSerializer,
    UserSerializer,
)
from csms.api.views import (
    BAD_REQUEST,
    COMMON_ERRORS,
    LIST_ERRORS,
    NOT_FOUND,
    ApiViewMixin,
    acting_user,
    audit_reason,
    require_write,
)

# --- Helpers shared with the access endpoints -----------------------------------------------------------------

class ListDetailViewSet(ApiViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        viewsets.GenericViewSet):
    """List and detail; the writes are the subclass's own actions, each calling one service."""





def target_organization(request, organization_id: int | None) -> Organization:
    """The organization a new row belongs to: the one named in the body (if the caller sees it), else the caller's
    only one. The caller must be allowed to write there."""
    if organization_id is not None:
        organization = scope_for(request, Organization.objects.filter(pk=organization_id), "pk").first()
        if organization is None:
            raise ValidationError({"organization": [_("No such organization.")]})
    elif isinstance(request.auth, ApiKey):
        # A key acts for its own organization, unless it also sees others (the operator's, a reseller's): then
        # it must say which, rather than write into the operator or reseller by default.
        seen = organizations_seen_by(request.auth.organization)
        if seen is None or seen.exclude(pk=request.auth.organization_id).exists():
            raise ValidationError({"organization": [_("Say which organization.")]})
        organization = request.auth.organization
    else:
        ids = visible_organization_ids(request.user)
        if ids is None or len(ids) != 1:
            raise ValidationError({"organization": [_("Say which organization.")]})
        organization = Organization.objects.get(pk=next(iter(ids)))
    require_write(request, organization.pk)
    return organization


def member_of(organization_id: int, user_id: int, field: str = "user") -> User:
    """A person with a membership in the organization (the caller already may see it), else a 400 on ``field``."""
    user = User.objects.filter(pk=user_id, memberships__organization_id=organization_id).first()
    if user is None:
        raise ValidationError({field: [_("No such member of the organization.")]})
    return user


def visible_members(request):
    """Ids of the people who have a membership the caller may see."""
    return scope_for(request, Membership.objects.all()).values("user_id")


# --- Users ------------------------------------------------------------------------------------------------------

class UserFilter(django_filters.FilterSet):
    # Every relation filter goes through a scoped subquery: a chained filter on memberships would match a person's
    # membership in another organization and so tell that it exists.
    organization = IdFilter(method="filter_organization",
                                               help_text="People with a membership in this organization.")
    role = django_filters.ChoiceFilter(choices=Membership.Role.choices, method="filter_role",
                                       help_text="People with this role in one of the caller's organizations.")
    group = IdFilter(method="filter_group", help_text="Members of this user group.")
    email = django_filters.CharFilter(field_name="email", lookup_expr="iexact")
    mobile_number = django_filters.CharFilter(method="filter_mobile", help_text="In any spelling.")

    class Meta:
        model = User
        fields = ["organization", "role", "group", "email", "mobile_number"]

    def _memberships(self):
        return scope_for(self.request, Membership.objects.all())

    def filter_organization(self, queryset, name, value):
        return queryset.filter(pk__in=self._memberships().filter(organization_id=value).values("user_id"))

    def filter_role(self, queryset, name, value):
        return queryset.filter(pk__in=self._memberships().filter(role=value).values("user_id"))

    def filter_group(self, queryset, name, value):
        links = scope_for(self.request, UserGroup.members.through.objects.filter(usergroup_id=value),
                          "usergroup__organization")
        return queryset.filter(pk__in=links.values("user_id"))

    def filter_mobile(self, queryset, name, value):
        try:
            number = identifiers.normalize_mobile_number(value, settings.PHONE_DEFAULT_REGION)
        except ValueError:
            return queryset.none()
        return queryset.filter(mobile_number=number)


@extend_schema_view(
    list=extend_schema(summary="List people of your organizations",
                       description="Only people with a membership in the caller's organizations, each with only "
                                   "those memberships, groups and tokens.",
                       responses={200: UserSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="One person", responses={200: UserSerializer, **COMMON_ERRORS, **NOT_FOUND}),
)
class UserViewSet(ListDetailViewSet):
    serializer_class = UserSerializer
    filterset_class = UserFilter

    def get_queryset(self):
        request = self.request
        memberships = scope_for(request, Membership.objects.select_related("organization"))
        tokens = scope_for(request, IdToken.objects.filter(user=OuterRef("pk"))).order_by().values(
            "user").annotate(count=Count("pk")).values("count")
        return User.objects.filter(pk__in=memberships.values("user_id")).annotate(
            tokens_count=Coalesce(Subquery(tokens, output_field=IntegerField()), 0),
        ).prefetch_related(
            Prefetch("memberships", queryset=memberships.order_by("organization__name", "pk"),
                     to_attr="visible_memberships"),
            Prefetch("user_groups", queryset=scope_for(request, UserGroup.objects.order_by("name", "pk")),
                     to_attr="visible_groups"),
        ).order_by("last_name", "first_name", "pk")


# --- Memberships ------------------------------------------------------------------------------------------------

class MembershipFilter(django_filters.FilterSet):
    organization = IdFilter(field_name="organization_id")
    user = IdFilter(field_name="user_id")
    role = django_filters.ChoiceFilter(choices=Membership.Role.choices)

    class Meta:
        model = Membership
        fields = ["organization", "user", "role"]


@extend_schema_view(
    list=extend_schema(summary="List memberships", responses={200: MembershipSerializer(many=True),
                                                              **LIST_ERRORS}),
    retrieve=extend_schema(summary="One membership", responses={200: MembershipSerializer, **COMMON_ERRORS,
                                                                **NOT_FOUND}),
)
class MembershipViewSet(ListDetailViewSet):
    serializer_class = MembershipSerializer
    filterset_class = MembershipFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return scope_for(self.request, Membership.objects.select_related("organization")).order_by(
            "organization__name", "user__last_name", "pk")

    @extend_schema(
        summary="Invite a person by e-mail or mobile number",
        description="Creates the person if new and sends an invitation (a link to choose a password) after the "
                    "change is stored; a person who already has an account (same e-mail or mobile number) gets "
                    "the membership instead. 201 when the membership is new, 200 when it existed.",
        request=InviteSerializer,
        responses={201: MembershipSerializer, 200: MembershipSerializer, **COMMON_ERRORS, **BAD_REQUEST},
        examples=[OpenApiExample("Invite a resident by mobile number", request_only=True, value={
            "mobile_number": "070-123 45 67", "first_name": "Anna", "last_name": "Svensson", "role": "resident",
            "reference": "1102", "reason": "Moved in"})],
    )
    def create(self, request):
        body = InviteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        organization = target_organization(request, data.get("organization"))
        known = _already_member(organization, data["email"], data["mobile_number"])
        try:
            invitation = user_services.user_invite(
                organization=organization, email=data["email"], mobile_number=data["mobile_number"],
                first_name=data["first_name"], last_name=data["last_name"], role=data["role"],
                reference=data["reference"], acting_user=acting_user(request),
                reason=audit_reason(request, data["reason"]))
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        membership = Membership.objects.select_related("organization").get(pk=invitation.membership.pk)
        return Response(MembershipSerializer(membership).data,
                        status=status.HTTP_200_OK if known else status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a member's role",
        request=MembershipRoleSerializer,
        responses={200: MembershipSerializer, **COMMON_ERRORS, **NOT_FOUND, **BAD_REQUEST},
        examples=[OpenApiExample("Make a resident a board member", request_only=True,
                                 value={"role": "org_admin", "reason": "Elected at the annual meeting"})],
    )
    def partial_update(self, request, pk=None):
        membership = self.get_object()
        body = MembershipRoleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        require_write(request, membership.organization_id)
        try:
            membership = user_services.membership_change_role(
                membership=membership, role=body.validated_data["role"], acting_user=acting_user(request),
                reason=audit_reason(request, body.validated_data["reason"]))
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return Response(MembershipSerializer(membership).data)


def _already_member(organization: Organization, email: str, mobile_number: str) -> bool:
    contact = Q(pk__in=[])
    if email.strip():
        contact |= Q(user__email=email.strip().lower())
    if mobile_number.strip():
        with suppress(ValueError):  # the service answers with the field error
            contact |= Q(user__mobile_number=identifiers.normalize_mobile_number(
                mobile_number, settings.PHONE_DEFAULT_REGION))
    return Membership.objects.filter(contact, organization=organization).exists()


# --- ID tokens --------------------------------------------------------------------------------------------------

class IdTokenFilter(django_filters.FilterSet):
    organization = IdFilter(field_name="organization_id")
    uid = django_filters.CharFilter(method="filter_uid", help_text="In any spelling (04:a2:3b:1c = 04A23B1C).")
    user = IdFilter(field_name="user_id")
    status = django_filters.ChoiceFilter(choices=IdToken.Status.choices)
    type = django_filters.ChoiceFilter(choices=IdToken.Type.choices)

    class Meta:
        model = IdToken
        fields = ["organization", "uid", "user", "status", "type"]

    def filter_uid(self, queryset, name, value):
        spellings = {value.strip()}
        for token_type in IdToken.Type.values:
            try:
                spellings.add(identifiers.normalize_token_uid(token_type, value))
            except ValueError:
                continue
        return queryset.filter(uid__in=spellings)


class TokenContextMixin:
    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}


@extend_schema_view(
    list=extend_schema(summary="List ID tokens", responses={200: IdTokenSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="One ID token", responses={200: IdTokenSerializer, **COMMON_ERRORS,
                                                              **NOT_FOUND}),
)
class IdTokenViewSet(TokenContextMixin, ListDetailViewSet):
    serializer_class = IdTokenSerializer
    filterset_class = IdTokenFilter

    def get_queryset(self):
        return scope_for(self.request, IdToken.objects.all()).order_by("uid", "pk")

    @extend_schema(
        summary="Issue an ID token",
        description="Registers a tag, key code, app token, eMAID or MAC address. The uid is stored normalised; a "
                    "uid already in use (in any organization) is refused. Any expiry is accepted, also one in the "
                    "past.",
        request=IdTokenIssueSerializer,
        responses={201: IdTokenSerializer, **COMMON_ERRORS, **BAD_REQUEST},
        examples=[OpenApiExample("An RFID tag for a resident", request_only=True, value={
            "uid": "04:a2:3b:1c:5d:6e:80", "type": "rfid", "printed_number": "000123", "user": 42,
            "expires_at": "2027-06-30T23:59:59+02:00", "reason": "New resident"})],
    )
    def create(self, request):
        body = IdTokenIssueSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        organization = target_organization(request, data.get("organization"))
        user = member_of(organization.pk, data["user"]) if data["user"] is not None else None
        try:
            token = token_services.id_token_issue(
                organization=organization, uid=data["uid"], type=data["type"], user=user,
                visual_number=data["printed_number"], valid_until=data["expires_at"],
                acting_user=acting_user(request), reason=audit_reason(request, data["reason"]))
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        except IntegrityError as exc:  # the same uid issued a moment ago by someone else
            raise ValidationError({"uid": [_("This uid is already in use.")]}) from exc
        return Response(self.get_serializer(token).data, status=status.HTTP_201_CREATED)

    def _change(self, request, service):
        token = self.get_object()
        body = RequiredReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        require_write(request, token.organization_id)
        try:
            token = service(token=token, acting_user=acting_user(request),
                            reason=audit_reason(request, body.validated_data["reason"]))
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return Response(self.get_serializer(token).data)

    @extend_schema(
        summary="Block an ID token", description="It can no longer start charges. Blocking a blocked token is a "
                                                 "no-op.",
        request=RequiredReasonSerializer,
        responses={200: IdTokenSerializer, **COMMON_ERRORS, **NOT_FOUND, **BAD_REQUEST},
        examples=[OpenApiExample("Lost tag", request_only=True, value={"reason": "Reported lost by the owner"})],
    )
    @action(detail=True, methods=["post"])
    def block(self, request, pk=None):
        return self._change(request, token_services.id_token_block)

    @extend_schema(
        summary="Unblock an ID token", description="Active again, or expired if its validity ended meanwhile.",
        request=RequiredReasonSerializer,
        responses={200: IdTokenSerializer, **COMMON_ERRORS, **NOT_FOUND, **BAD_REQUEST},
        examples=[OpenApiExample("Found again", request_only=True, value={"reason": "The tag was found"})],
    )
    @action(detail=True, methods=["post"])
    def unblock(self, request, pk=None):
        return self._change(request, token_services.id_token_unblock)


# --- User groups ------------------------------------------------------------------------------------------------

class UserGroupFilter(django_filters.FilterSet):
    organization = IdFilter(field_name="organization_id")
    member = IdFilter(field_name="members", help_text="Groups this user belongs to.")

    class Meta:
        model = UserGroup
        fields = ["organization", "member"]


@extend_schema_view(
    list=extend_schema(summary="List user groups", responses={200: UserGroupSerializer(many=True),
                                                              **LIST_ERRORS}),
    retrieve=extend_schema(summary="One user group", responses={200: UserGroupSerializer, **COMMON_ERRORS,
                                                                **NOT_FOUND}),
)
class UserGroupViewSet(ListDetailViewSet):
    serializer_class = UserGroupSerializer
    filterset_class = UserGroupFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return scope_for(self.request, UserGroup.objects.prefetch_related("members")).order_by(
            "name", "pk")

    def _detail(self, group: UserGroup) -> UserGroup:
        return UserGroup.objects.prefetch_related("members").get(pk=group.pk)

    @extend_schema(
        summary="Create a user group", request=UserGroupCreateSerializer,
        responses={201: UserGroupSerializer, **COMMON_ERRORS, **BAD_REQUEST},
        examples=[OpenApiExample("Garage B", request_only=True,
                                 value={"name": "Garage B", "description": "Residents with a place in garage B"})],
    )
    def create(self, request):
        body = UserGroupCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        organization = target_organization(request, data.get("organization"))
        try:
            group = group_services.user_group_create(
                organization=organization, name=data["name"], description=data["description"],
                acting_user=acting_user(request), reason=audit_reason(request, data["reason"]))
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return Response(UserGroupSerializer(self._detail(group)).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Rename a user group or change its description", request=UserGroupUpdateSerializer,
        responses={200: UserGroupSerializer, **COMMON_ERRORS, **NOT_FOUND, **BAD_REQUEST},
        examples=[OpenApiExample("Rename", request_only=True, value={"name": "Garage B (north)"})],
    )
    def partial_update(self, request, pk=None):
        group = self.get_object()
        body = UserGroupUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        require_write(request, group.organization_id)
        try:
            group = group_services.user_group_update(
                group=group, name=data.get("name"), description=data.get("description"),
                acting_user=acting_user(request), reason=audit_reason(request, data["reason"]))
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return Response(UserGroupSerializer(self._detail(group)).data)

    def _members(self, request, service):
        group = self.get_object()
        body = GroupMembersSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        require_write(request, group.organization_id)
        wanted = set(body.validated_data["users"])
        users = list(User.objects.filter(
            Q(memberships__organization_id=group.organization_id) | Q(user_groups=group), pk__in=wanted).distinct())
        unknown = sorted(wanted - {user.pk for user in users})
        if unknown:
            raise ValidationError({"users": [_("Not members of the group's organization: %(ids)s") % {
                "ids": ", ".join(str(pk) for pk in unknown)}]})
        try:
            changed = service(group=group, users=users, acting_user=acting_user(request),
                              reason=audit_reason(request, body.validated_data["reason"]))
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return Response({"changed": sorted(user.pk for user in changed),
                         "group": UserGroupSerializer(self._detail(group)).data})

    @extend_schema(
        summary="Add people to a user group", request=GroupMembersSerializer,
        responses={200: GroupMembersResultSerializer, **COMMON_ERRORS, **NOT_FOUND, **BAD_REQUEST},
        examples=[OpenApiExample("Two residents", request_only=True, value={"users": [42, 43]})],
    )
    @action(detail=True, methods=["post"], url_path="members/add")
    def add_members(self, request, pk=None):
        return self._members(request, group_services.user_group_add_members)

    @extend_schema(
        summary="Take people out of a user group", request=GroupMembersSerializer,
        responses={200: GroupMembersResultSerializer, **COMMON_ERRORS, **NOT_FOUND, **BAD_REQUEST},
        examples=[OpenApiExample("One resident", request_only=True,
                                 value={"users": [42], "reason": "Moved to garage A"})],
    )
    @action(detail=True, methods=["post"], url_path="members/remove")
    def remove_members(self, request, pk=None):
        return self._members(request, group_services.user_group_remove_members)

