"""Billing's public URLs (mounted at /billing/)."""

from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("pay/<str:token>/", views.pay, name="pay"),
    path("card/", views.save_card, name="save_card"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
    path("pay/<str:token>/swish/", views.swish_start, name="swish_start"),
    path("pay/<str:token>/swish/<int:request_pk>/", views.swish_status, name="swish_status"),
    path("swish/callback/", views.swish_callback, name="swish_callback"),
]
