from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from csms.observability import views as observability
from roaming import feed as roaming_feed

handler404 = "csms.api.errors.page_not_found"

admin.site.site_header = "csms"
admin.site.site_title = "csms"
admin.site.index_title = "Operations"

urlpatterns = [
    path("admin/support/", include("csms.support.urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", include("csms.api.urls")),
    path("billing/", include("billing.urls")),
    path("ocpi/", include("roaming.urls")),
    path("portal/", include("csms.portal.urls")),
    # The short URL printed in the EVSEs' QR stickers (charging.selectors.access.start_url).
    path("c/<str:code>", RedirectView.as_view(pattern_name="portal:public_start", permanent=False),
         name="public-start-short"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", observability.health, name="health"),
    path("readyz", observability.ready, name="ready"),
    path("metrics", observability.metrics_view, name="metrics"),
    path("public/locations.geojson", roaming_feed.view, name="roaming-public-feed"),
]
