"""Signing in and out, passwords (change; reset by e-mail), the organization switcher and the start page that sends
each role where it works."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from csms.portal import access


class LoginView(auth_views.LoginView):
    template_name = "portal/auth/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return reverse("portal:home")


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("portal:login")


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "portal/auth/password_change.html"
    success_url = reverse_lazy("portal:home")

    def form_valid(self, form):
        messages.success(self.request, _("Your password is changed."))
        return super().form_valid(form)


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "portal/auth/password_reset.html"
    email_template_name = "portal/auth/password_reset_email.txt"
    subject_template_name = "portal/auth/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "portal/auth/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/auth/password_reset_confirm.html"
    success_url = reverse_lazy("portal:login")

    def form_valid(self, form):
        messages.success(self.request, _("Your new password is saved. Sign in with it."))
        return super().form_valid(form)


#: Where each role starts (the first page of its menu).
START_PAGE = {access.ADMIN: "portal:dashboard", access.VIEWER: "portal:dashboard",
              access.RESIDENT: "portal:my_sessions"}


@access.portal_view(access.EVERYONE)
def home(request):
    return redirect(START_PAGE[request.portal.role])


@require_POST
@access.portal_view(access.EVERYONE)
def switch_organization(request):
    """Act for another of the person's organizations; an id that is not one of them is a 404."""
    try:
        wanted = int(request.POST.get("organization", ""))
    except ValueError:
        raise Http404 from None
    choice = next((c for c in request.portal.choices if c.organization.pk == wanted), None)
    if choice is None:
        raise Http404
    request.session[access.SESSION_KEY] = choice.organization.pk
    return HttpResponseRedirect(reverse("portal:home"))
