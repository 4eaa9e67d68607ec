"""Admin for organizations, users, memberships, ID tokens, user groups, API keys and the audit log."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin_base import REASON_FIELD, AuditedAdmin, TenantScopedAdmin, TenantScopedInline, action_with_reason
from accounts.forms import IdTokenIssueForm, InviteUserForm, MobileNumberField
from accounts.models import ApiKey, AuditLogEntry, IdToken, Membership, Organization, User, UserGroup
from accounts.selectors import organizations_visible_to, users_visible_to
from accounts.services import api_keys as api_key_services
from accounts.services import organizations as organization_services
from accounts.services import tokens as token_services
from accounts.services import users as user_services


class MembershipInline(TenantScopedInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user", "organization"]
    fields = ["user", "organization", "role", "reference", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Organization)
class OrganizationAdmin(AuditedAdmin):
    organization_field = "pk"
    list_display = ["name", "kind", "slug", "org_number", "city", "parent", "vat_exempt", "is_active"]
    list_filter = ["kind", "is_active", "vat_exempt", "locale"]
    search_fields = ["name", "slug", "org_number", "vat_number", "city", "contact_email"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["parent"]
    list_select_related = ["parent"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["kind", "name", "slug", "parent", "locale", "is_active"]}),
        (gettext_lazy("Legal and tax"), {"fields": ["org_number", "vat_number", "vat_exempt"]}),
        (gettext_lazy("Address and contact"), {"fields": [
            "street_address", ("postal_code", "city"), "country", "contact_name", "contact_email",
            "contact_phone", "billing_email"]}),
        (gettext_lazy("Payouts"), {"fields": ["bankgiro_number", "payout_reference"]}),
    ]

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if self.operator_only(request) else {}

    def get_readonly_fields(self, request, obj=None):
        # A board may correct its contact details but not re-classify itself or move to another reseller.
        return [] if self.operator_only(request) else ["kind", "slug", "parent", "is_active"]

    def has_add_permission(self, request):
        return self.operator_only(request) and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        # Organizations carry invoices and sessions: deactivate instead.
        return False


class UserChangeForm(DjangoUserChangeForm):
    mobile_number = MobileNumberField(label=gettext_lazy("Mobile number"), required=False)

    class Meta(DjangoUserChangeForm.Meta):
        model = User
        fields = ["email", "mobile_number", "password", "first_name", "last_name", "language", "is_active",
                  "is_staff", "is_superuser", "groups", "user_permissions"]


def _grant_admin_access(user, request, reason):
    membership = user.memberships.filter(
        role__in=[Membership.Role.ORG_ADMIN, Membership.Role.ORG_VIEWER]).select_related("organization").first()
    if membership is None:
        raise ValidationError(_("Only administrators and viewers of an organization get admin access."))
    organization_services.user_grant_admin_access(user=user, organization=membership.organization,
                                                  acting_user=request.user, reason=reason)


def _deactivate(user, request, reason):
    user_services.user_set_active(user=user, active=False, acting_user=request.user, reason=reason)


@admin.register(User)
class UserAdmin(AuditedAdmin, DjangoUserAdmin):
    form = UserChangeForm
    list_display = ["email", "first_name", "last_name", "mobile_number", "is_active", "is_staff", "last_login"]
    list_filter = ["is_active", "is_staff", "memberships__role", "language"]
    search_fields = ["email", "first_name", "last_name", "mobile_number", "memberships__reference"]
    ordering = ["last_name", "first_name"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["email", "mobile_number", "password"]}),
        (gettext_lazy("Personal info"), {"fields": ["first_name", "last_name", "language"]}),
        (gettext_lazy("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser", "groups",
                                                  "user_permissions"]}),
        (gettext_lazy("Important dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    readonly_fields = ["last_login", "date_joined"]
    actions = ["send_invitation", "grant_admin_access", "deactivate_users"]

    def get_queryset(self, request):
        return users_visible_to(request.user).prefetch_related("memberships")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not self.operator_only(request):
            # Only the operator grants admin access and permissions.
            fields += ["is_staff", "is_superuser", "groups", "user_permissions"]
        return fields

    def get_urls(self):
        return [
            path("invite/", self.admin_site.admin_view(self.invite_view), name="accounts_user_invite"),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        # People are invited (they choose their own password), never created with a password typed by staff.
        return redirect("admin:accounts_user_invite")

    def invite_view(self, request: HttpRequest):
        if not self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        form = InviteUserForm(request.POST or None, organizations=organizations_visible_to(request.user))
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            if data["role"] == Membership.Role.OPERATOR_SUPPORT and not self.operator_only(request):
                form.add_error("role", _("Only the operator can grant the operator support role."))
            else:
                try:
                    invitation = user_services.user_invite(
                        organization=data["organization"], email=data["email"], mobile_number=data["mobile_number"],
                        first_name=data["first_name"], last_name=data["last_name"], role=data["role"],
                        reference=data["reference"], acting_user=request.user, reason=data["reason"])
                except ValidationError as exc:
                    form.add_error(None, exc)
                else:
                    self.message_user(request, _("%(user)s invited to %(org)s.") % {
                        "user": invitation.user, "org": data["organization"]}, messages.SUCCESS)
                    return redirect("admin:accounts_user_change", invitation.user.pk)
        context = {**self.admin_site.each_context(request), "title": _("Invite a user"), "form": form,
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/accounts/user/invite.html", context)

    @admin.action(description=gettext_lazy("Send the invitation again"), permissions=["change"])
    def send_invitation(self, request, queryset):
        sent = 0
        for user in queryset:
            membership = user.memberships.first()
            if membership is None or user.has_usable_password():
                continue
            user_services.send_invitation(user_id=user.pk, organization_id=membership.organization_id)
            sent += 1
        self.message_user(request, _("%(count)d invitation(s) sent.") % {"count": sent}, messages.SUCCESS)

    grant_admin_access = action_with_reason(
        description=gettext_lazy("Give admin access for their organization"), permissions=["grant_access"],
        apply=_grant_admin_access)
    deactivate_users = action_with_reason(
        description=gettext_lazy("Deactivate the selected users"), permissions=["change"], apply=_deactivate)

    def has_grant_access_permission(self, request):
        return self.operator_only(request)

    def has_delete_permission(self, request, obj=None):
        # Sessions and invoices refer to people: deactivate instead.
        return False


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ["user", "organization", "role", "reference", "created_at"]
    list_filter = ["role", "organization__kind"]
    search_fields = ["user__email", "user__first_name", "user__last_name", "user__mobile_number",
                     "organization__name", "reference"]
    autocomplete_fields = ["user", "organization"]
    list_select_related = ["user", "organization"]


class IdTokenChangeForm(forms.ModelForm):
    class Meta:
        model = IdToken
        fields = ["organization", "user", "visual_number", "valid_until"]


def _block(token, request, reason):
    token_services.id_token_block(token=token, reason=reason, acting_user=request.user)


def _unblock(token, request, reason):
    token_services.id_token_unblock(token=token, reason=reason, acting_user=request.user)


@admin.register(IdToken)
class IdTokenAdmin(AuditedAdmin):
    list_display = ["uid", "type", "visual_number", "organization", "user", "status", "valid_until", "created_at"]
    list_filter = ["status", "type", "organization__kind"]
    search_fields = ["uid", "visual_number", "user__email", "user__first_name", "user__last_name",
                     "organization__name"]
    autocomplete_fields = ["organization", "user"]
    list_select_related = ["organization", "user"]
    readonly_fields = ["uid", "type", "status", "blocked_reason", "blocked_at", "blocked_by", "created_at"]
    actions = ["block_tokens", "unblock_tokens"]

    block_tokens = action_with_reason(description=gettext_lazy("Block the selected tokens"),
                                      permissions=["change"], apply=_block)
    unblock_tokens = action_with_reason(description=gettext_lazy("Unblock the selected tokens"),
                                        permissions=["change"], apply=_unblock)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = IdTokenChangeForm if obj is not None else IdTokenIssueForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organization", "type", "uid", "user", "visual_number", "valid_until", "status"]
        return ["uid", "type", "organization", "user", "visual_number", "valid_until", "status",
                "blocked_reason", "blocked_at", "blocked_by", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        token = token_services.id_token_issue(
            organization=data["organization"], uid=data["uid"], type=data["type"], user=data.get("user"),
            visual_number=data.get("visual_number", ""), valid_until=data.get("valid_until"),
            status=data["status"], acting_user=request.user, reason=data[REASON_FIELD])
        obj.pk = token.pk

    def has_delete_permission(self, request, obj=None):
        # Sessions refer to tokens: block instead.
        return False


class UserGroupForm(forms.ModelForm):
    class Meta:
        model = UserGroup
        fields = ["organization", "name", "description", "members"]

    def clean(self):
        data = super().clean()
        organization, members = data.get("organization"), data.get("members") or []
        if organization is not None and members:
            member_ids = set(Membership.objects.filter(organization=organization).values_list("user_id", flat=True))
            outsiders = [str(u) for u in members if u.pk not in member_ids]
            if outsiders:
                self.add_error("members", _("Not members of %(org)s: %(names)s") % {
                    "org": organization, "names": ", ".join(outsiders)})
        return data


@admin.register(UserGroup)
class UserGroupAdmin(AuditedAdmin):
    form = UserGroupForm
    list_display = ["name", "organization", "member_count", "created_at"]
    list_filter = ["organization__kind"]
    search_fields = ["name", "organization__name"]
    autocomplete_fields = ["organization", "members"]
    list_select_related = ["organization"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("members"))

    @admin.display(description=gettext_lazy("members"), ordering="member_count")
    def member_count(self, obj):
        return obj.member_count


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(label=gettext_lazy("Scopes"), choices=ApiKey.Scope.choices,
                                       widget=forms.CheckboxSelectMultiple, initial=[ApiKey.Scope.READ])
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500)

    class Meta:
        model = ApiKey
        fields = ["organization", "name", "scopes", "expires_at"]


def _revoke(api_key, request, reason):
    api_key_services.api_key_revoke(api_key=api_key, acting_user=request.user, reason=reason, now=timezone.now())


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    list_display = ["name", "prefix", "organization", "scopes", "created_at", "last_used_at", "expires_at",
                    "is_active"]
    list_filter = ["organization__kind"]
    search_fields = ["name", "prefix", "organization__name"]
    autocomplete_fields = ["organization"]
    list_select_related = ["organization"]
    readonly_fields = ["organization", "name", "prefix", "scopes", "expires_at", "created_by", "created_at",
                       "last_used_at", "revoked_at", "revoked_by", "revoked_reason"]
    actions = ["revoke_keys"]

    revoke_keys = action_with_reason(description=gettext_lazy("Revoke the selected keys"),
                                     permissions=["change"], apply=_revoke)

    @admin.display(boolean=True, description=gettext_lazy("active"))
    def is_active(self, obj):
        return obj.is_valid(timezone.now())

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organization", "name", "scopes", "expires_at", "reason"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        created = api_key_services.api_key_create(
            organization=data["organization"], name=data["name"], scopes=data["scopes"],
            expires_at=data.get("expires_at"), acting_user=request.user, reason=data["reason"])
        obj.pk = created.api_key.pk
        self.message_user(request, _("The new key is %(key)s — copy it now, it is not shown again.") % {
            "key": created.raw_key}, messages.WARNING)

    def save_related(self, request, form, formsets, change):
        """Nothing to save: keys have no related rows."""

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(TenantScopedAdmin):
    list_display = ["at", "actor", "action", "target_repr", "organization", "reason"]
    list_filter = ["action", "organization__kind"]
    search_fields = ["target_repr", "reason", "actor__email", "action", "target_id"]
    date_hierarchy = "at"
    list_select_related = ["actor", "organization"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

