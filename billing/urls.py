"""Billing's public URLs (mounted at /billing/)."""

from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("pay/<str:token>/", views.pay, name="pay"),
    path("card/", views.save_card, name="save_card"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
]
