"""Public account pages: accepting an invitation. (Board and resident pages live in csms/portal.)"""

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from django.views.decorators.cache import never_cache

from accounts.forms import AcceptInvitationForm
from accounts.services.users import user_accept_invitation


def _invited_user(uidb64: str, token: str):
    try:
        user = get_user_model().objects.get(pk=int(force_str(urlsafe_base64_decode(uidb64))))
    except (ValueError, TypeError, OverflowError, get_user_model().DoesNotExist):
        return None
    return user if default_token_generator.check_token(user, token) else None


@never_cache
def accept_invitation(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    user = _invited_user(uidb64, token)
    if user is None:
        return render(request, "accounts/invitation_invalid.html", status=400)
    form = AcceptInvitationForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            user_accept_invitation(user=user, password=form.cleaned_data["password1"],
                                   email=form.cleaned_data.get("email"))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect("accounts:invitation_done")
    return render(request, "accounts/invitation_accept.html", {"form": form, "invited": user})


def invitation_done(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/invitation_done.html")
