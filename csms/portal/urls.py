"""URLs of the tenant portal (mounted at /portal/). Each area's views module adds its own lines."""

from django.urls import path

from csms.portal.views import auth, resident
from csms.portal.views import bookings as bookings_views
from csms.portal.views import dashboard as dashboard_views
from csms.portal.views import groups as groups_views
from csms.portal.views import invoices as invoices_views
from csms.portal.views import otp as otp_views
from csms.portal.views import people as people_views
from csms.portal.views import public as public_views
from csms.portal.views import reports as reports_views
from csms.portal.views import stations as stations_views

app_name = "portal"

urlpatterns = [
    path("", auth.home, name="home"),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("login/code/", otp_views.otp_request, name="otp_request"),
    path("login/code/enter/", otp_views.otp_verify, name="otp_verify"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("password/", auth.PasswordChangeView.as_view(), name="password_change"),
    path("password/reset/", auth.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", auth.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("password/reset/<uidb64>/<token>/", auth.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("organization/", auth.switch_organization, name="switch_organization"),
    path("people/", people_views.people, name="people"),
    path("people/new/", people_views.person_invite, name="people_invite"),
    path("people/import/", people_views.people_import, name="people_import"),
    path("people/import/sample.csv", people_views.people_import_sample, name="people_import_sample"),
    path("people/<int:pk>/", people_views.person, name="people_person"),
    path("people/<int:pk>/tags/", people_views.tag_assign, name="people_tag_assign"),
    path("people/<int:pk>/groups/", people_views.person_groups, name="people_groups"),
    path("people/tags/<int:pk>/block/", people_views.tag_block, name="people_tag_block"),
    path("people/tags/<int:pk>/unblock/", people_views.tag_unblock, name="people_tag_unblock"),
    path("groups/", groups_views.groups, name="groups"),
    path("groups/new/", groups_views.group_create, name="groups_new"),
    path("groups/prices/new/", groups_views.tariff_new, name="groups_tariff_new"),
    path("groups/prices/<int:pk>/end/", groups_views.price_end, name="groups_price_end"),
    path("groups/fees/", groups_views.fees, name="groups_fees"),
    path("groups/fees/<int:pk>/end/", groups_views.fee_end, name="groups_fee_end"),
    path("groups/<int:pk>/", groups_views.group, name="groups_group"),
    path("groups/<int:pk>/rename/", groups_views.group_rename, name="groups_rename"),
    path("groups/<int:pk>/price/", groups_views.group_price, name="groups_price"),
    path("my/sessions/", resident.my_sessions, name="my_sessions"),
    path("my/invoices/", resident.my_invoices, name="my_invoices"),
    path("my/invoices/<int:pk>/pdf/", resident.my_invoice_pdf, name="my_invoice_pdf"),
    path("my/card/remove/", resident.my_card_remove, name="my_card_remove"),
    path("my/tags/", resident.my_tags, name="my_tags"),
    path("my/tags/<int:pk>/block/", resident.my_tag_block, name="my_tag_block"),
    path("my/bookings/", resident.my_bookings, name="my_bookings"),
    path("my/bookings/<int:pk>/cancel/", resident.my_booking_cancel, name="my_booking_cancel"),
    path("overview/", dashboard_views.dashboard, name="dashboard"),
    path("overview/status.json", dashboard_views.dashboard_status, name="dashboard_status"),
    path("stations/", stations_views.stations, name="stations"),
    path("stations/keys/", stations_views.keys, name="station_keys"),
    path("stations/keys/new/", stations_views.key_issue, name="station_key_issue"),
    path("stations/keys/<int:pk>/revoke/", stations_views.key_revoke, name="station_key_revoke"),
    path("stations/<int:pk>/", stations_views.station, name="station"),
    path("stations/<int:pk>/access/", stations_views.station_access, name="station_access"),
    path("stations/<int:pk>/evses/<int:evse_pk>/mode/", stations_views.evse_mode, name="station_evse_mode"),
    path("stations/<int:pk>/stickers.pdf", stations_views.station_stickers, name="station_stickers"),
    path("bookings/", bookings_views.bookings, name="bookings"),
    path("bookings/rules/", bookings_views.bookings_policy, name="bookings_policy"),
    path("bookings/evse/<int:evse_pk>/", bookings_views.bookings_calendar, name="bookings_calendar"),
    path("bookings/<int:pk>/cancel/", bookings_views.bookings_cancel, name="bookings_cancel"),
    path("reports/", reports_views.reports, name="reports"),
    path("reports/utilization/", reports_views.utilization, name="reports_utilization"),
    path("reports/energy/", reports_views.energy, name="reports_energy"),
    path("reports/sessions/", reports_views.sessions, name="reports_sessions"),
    path("reports/sessions.csv", reports_views.sessions_csv, name="reports_sessions_csv"),
    path("reports/benefit/", reports_views.benefit, name="reports_benefit"),
    path("reports/benefit.csv", reports_views.benefit_csv, name="reports_benefit_csv"),
    path("reports/errors/", reports_views.errors, name="reports_errors"),
    path("invoices/", invoices_views.invoices, name="invoices"),
    path("invoices/<int:pk>/pdf/", invoices_views.invoice_pdf, name="invoices_pdf"),
    path("invoices/statements/<int:pk>/pdf/", invoices_views.statement_pdf, name="invoices_statement_pdf"),
    path("charge/pay/<str:token>/", public_views.public_pay, name="public_pay"),
    path("charge/pay/<str:token>/start/", public_views.public_authorized, name="public_authorized"),
    path("charge/session/<str:token>/", public_views.public_progress, name="public_progress"),
    path("charge/session/<str:token>/status.json", public_views.public_status, name="public_status"),
    path("charge/session/<str:token>/stop/", public_views.public_stop, name="public_stop"),
    path("charge/receipt/<str:token>/", public_views.public_receipt, name="public_receipt"),
    path("charge/<str:code>/", public_views.public_start, name="public_start"),
]
