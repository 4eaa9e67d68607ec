from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("invitation/<uidb64>/<token>/", views.accept_invitation, name="invitation"),
    path("invitation/done/", views.invitation_done, name="invitation_done"),
]
