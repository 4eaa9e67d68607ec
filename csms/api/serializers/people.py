"""Connect API representations of people, their memberships, ID tokens and user groups, and the bodies of the
requests that change them. Ids are database ids; token uids are shown in their stored (normalised) spelling."""


from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import IdToken, Membership, User, UserGroup
from csms.api.fields import MAX_ID, InstantField, id_field

REASON_HELP = "Why (stored in the audit log together with the API key's name)."


def reason_field(required: bool = False) -> serializers.CharField:
    if required:
        return serializers.CharField(max_length=480, help_text=REASON_HELP)
    return serializers.CharField(max_length=480, required=False, allow_blank=True, default="", help_text=REASON_HELP)


class OrganizationField(serializers.IntegerField):
    """An organization id in a body; optional where the caller acts for one organization only."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        kwargs.setdefault("help_text", "Organization id; may be left out when the caller acts for one organization "
                                       "only (the key's own; an operator's or reseller's key must say which).")
        super().__init__(**kwargs)





# --- Output ------------------------------------------------------------------------------------------------------

class MembershipSerializer(serializers.ModelSerializer):
    user = serializers.IntegerField(source="user_id", read_only=True)
    organization = serializers.IntegerField(source="organization_id", read_only=True)
    organization_name = serializers.CharField(source="organization.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "organization", "organization_name", "role", "reference", "created_at"]
        read_only_fields = fields


class UserGroupRefSerializer(serializers.ModelSerializer):
    organization = serializers.IntegerField(source="organization_id", read_only=True)

    class Meta:
        model = UserGroup
        fields = ["id", "organization", "name"]
        read_only_fields = fields


class UserSerializer(serializers.ModelSerializer):
    """A person as the caller's organizations know them: only memberships, groups and tokens of those."""

    name = serializers.CharField(source="get_full_name", read_only=True)
    memberships = MembershipSerializer(source="visible_memberships", many=True, read_only=True)
    groups = UserGroupRefSerializer(source="visible_groups", many=True, read_only=True)
    tokens_count = serializers.IntegerField(read_only=True, help_text="ID tokens of the caller's organizations.")

    class Meta:
        model = User
        fields = ["id", "name", "first_name", "last_name", "email", "mobile_number", "language", "is_active",
                  "memberships", "groups", "tokens_count"]
        read_only_fields = fields


class IdTokenSerializer(serializers.ModelSerializer):
    organization = serializers.IntegerField(source="organization_id", read_only=True)
    user = serializers.IntegerField(source="user_id", read_only=True, allow_null=True)
    # Plain text here: one enum component for the token types (the issue body's) keeps the schema's names stable.
    type = serializers.CharField(read_only=True, help_text="rfid, key_code, central, emaid or mac.")
    printed_number = serializers.CharField(source="visual_number", read_only=True)
    expires_at = serializers.DateTimeField(source="valid_until", read_only=True, allow_null=True)
    usable_now = serializers.SerializerMethodField(help_text="Whether the token may start a charge now.")

    class Meta:
        model = IdToken
        fields = ["id", "uid", "type", "organization", "user", "printed_number", "status", "expires_at",
                  "usable_now", "blocked_reason", "blocked_at", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_usable_now(self, token: IdToken) -> bool:
        return token.is_usable(self.context["now"])


class UserGroupSerializer(serializers.ModelSerializer):
    organization = serializers.IntegerField(source="organization_id", read_only=True)
    members = serializers.SerializerMethodField(help_text="Ids of the group's members.")

    class Meta:
        model = UserGroup
        fields = ["id", "organization", "name", "description", "members", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_members(self, group: UserGroup) -> list[int]:
        return sorted(member.pk for member in group.members.all())


# --- Input -------------------------------------------------------------------------------------------------------

class InviteSerializer(serializers.Serializer):
    organization = OrganizationField()
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    mobile_number = serializers.CharField(required=False, allow_blank=True, default="", max_length=30,
                                          help_text="E.164 or Swedish national form, e.g. 070-123 45 67.")
    first_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=150)
    last_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=150)
    role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.RESIDENT)
    reference = serializers.CharField(required=False, allow_blank=True, default="", max_length=50,
                                      help_text="Apartment or employee number, shown on invoices.")
    reason = reason_field()

    def validate(self, attrs):
        if not attrs["email"] and not attrs["mobile_number"].strip():
            raise serializers.ValidationError({"email": _("Give an e-mail address or a mobile number.")})
        return attrs


class MembershipRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    reason = reason_field()


class IdTokenIssueSerializer(serializers.Serializer):
    organization = OrganizationField()
    uid = serializers.CharField(max_length=100, help_text="In any spelling: RFID separators and case are "
                                                          "normalised (04:a2:3b:1c = 04A23B1C).")
    type = serializers.ChoiceField(choices=IdToken.Type.choices, default=IdToken.Type.RFID)
    printed_number = serializers.CharField(required=False, allow_blank=True, default="", max_length=50)
    user = id_field(required=False, allow_null=True, default=None,
                    help_text="Owner: a member of the token's organization.")
    expires_at = InstantField(required=False, allow_null=True, default=None,
                                           help_text="Any instant is stored as given, also one in the past.")
    reason = reason_field()


class RequiredReasonSerializer(serializers.Serializer):
    reason = reason_field(required=True)


class UserGroupCreateSerializer(serializers.Serializer):
    organization = OrganizationField()
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    reason = reason_field()


class UserGroupUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    reason = reason_field()


class GroupMembersSerializer(serializers.Serializer):
    users = serializers.ListField(child=id_field(), min_length=1, max_length=500,
                                  help_text="User ids; each a member of the group's organization.")
    reason = reason_field()


class GroupMembersResultSerializer(serializers.Serializer):
    changed = serializers.ListField(child=serializers.IntegerField(),
                                    help_text="Users added (or removed); those already so are left out.")
    group = UserGroupSerializer()
