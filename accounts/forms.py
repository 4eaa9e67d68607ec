"""Forms shared by the admin and (later) the portal."""

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from accounts import identifiers
from accounts.models import IdToken, Membership, Organization


class MobileNumberField(forms.CharField):
    """A mobile number in any common spelling, cleaned to E.164 (+46701234567)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 30)
        kwargs.setdefault("help_text", _("E.g. +46701234567 or 070-123 45 67."))
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        try:
            return identifiers.normalize_mobile_number(value, settings.PHONE_DEFAULT_REGION)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid_mobile") from exc


class ReasonForm(forms.Form):
    """Why a person makes a change; stored in the audit log."""

    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("Stored in the audit log, e.g. the customer's request reference."))


class InviteUserForm(forms.Form):
    organization = forms.ModelChoiceField(label=_("Organization"), queryset=Organization.objects.none())
    email = forms.EmailField(label=_("E-mail address"), required=False)
    mobile_number = MobileNumberField(label=_("Mobile number"), required=False)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Membership.Role.choices, initial=Membership.Role.RESIDENT)
    reference = forms.CharField(label=_("Apartment / employee no."), max_length=50, required=False)
    reason = ReasonForm.base_fields["reason"]

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations

    def clean(self):
        data = super().clean()
        if not data.get("email") and not data.get("mobile_number") and not self.errors:
            raise forms.ValidationError(_("Give an e-mail address or a mobile number."))
        return data


class IdTokenIssueForm(forms.ModelForm):
    """Admin add form for tokens: the uid is normalized and checked per type (in IdToken.clean)."""

    class Meta:
        model = IdToken
        fields = ["organization", "type", "uid", "user", "visual_number", "valid_until", "status"]


class AcceptInvitationForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address (to log in with)"))
    password1 = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label=_("Password again"), widget=forms.PasswordInput, strip=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if user.email:
            del self.fields["email"]

    def clean(self):
        data = super().clean()
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("The two passwords differ."))
        elif p1:
            try:
                password_validation.validate_password(p1, self.user)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data
