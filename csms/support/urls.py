"""URLs of the support pages, mounted at /admin/support/ (before the admin's own URLs) and wrapped by the admin
site's login and staff check."""

from django.contrib import admin
from django.urls import path

from csms.support import views

app_name = "support"

urlpatterns = [
    path("customers/", admin.site.admin_view(views.customer_lookup), name="customer_lookup"),
    path("customers/<int:user_id>/", admin.site.admin_view(views.customer_detail), name="customer_detail"),
    path("customers/tags/<int:token_id>/", admin.site.admin_view(views.token_detail), name="token_detail"),
]
