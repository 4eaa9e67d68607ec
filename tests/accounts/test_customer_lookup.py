"""The support customer lookup: one search box for phone numbers, e-mail, names, tag uids and printed numbers, and a
page per person with everything support needs — always limited to what the viewer may see."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from accounts.models import IdToken, Membership
from accounts.services.tokens import id_token_block
from charging.models import AuthorizationAttempt, Booking, ChargePoint, ChargingSession, Evse, Reservation
from tests.accounts.factories import IdTokenFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

LOOKUP = "support:customer_lookup"


@pytest.fixture
def anna(brf_a):
    """A resident of BRF A with a phone number, an RFID tag with a printed number and a blocked key fob."""
    person = MembershipFactory(organization=brf_a.org, reference="1102", user=UserFactory(
        first_name="Anna", last_name="Svensson", email="anna.svensson@example.com",
        mobile_number="+46701234567")).user
    IdTokenFactory(organization=brf_a.org, user=person, uid="04A23B1C5D6E7F", visual_number="001-00042")
    return person


@pytest.fixture
def loose_tag(brf_a):
    return IdTokenFactory(organization=brf_a.org, uid="0499AABB", visual_number="001-00777")


def _found(client, query: str) -> tuple[list[str], list[str]]:
    response = client.get(reverse(LOOKUP), {"q": query})
    assert response.status_code == 200
    result = response.context["result"]
    return [p.email for p in result.people], [t.uid for t in result.unassigned_tokens]


@pytest.mark.parametrize("query", [
    "070-123 45 67", "0701234567", "+46701234567", "+46 70 123 45 67", "0046701234567", "0046 70-123 45 67",
    "anna.svensson@example.com", "ANNA.Svensson@Example.com", "svensson@example",
    "Anna Svensson", "svensson", "anna SVENS",
    "04A23B1C5D6E7F", "04:a2:3b:1c:5d:6e:7f", "04 a2 3b 1c 5d 6e 7f", "04-A2-3B-1C-5D-6E-7F",
    "001-00042", "00100042",
])
def test_support_finds_the_person_by_any_kind_of_input(client, operator_staff, anna, brf_a, query):
    client.force_login(operator_staff)
    people, _tags = _found(client, query)
    assert people == ["anna.svensson@example.com"]


@pytest.mark.parametrize("query", ["0702222222", "bertil", "04A23B1C5D6E70", "001-00043", "nobody@example.com"])
def test_near_misses_find_nobody(client, operator_staff, anna, query):
    client.force_login(operator_staff)
    assert _found(client, query) == ([], [])


def test_a_tag_without_a_person_is_listed_as_a_tag(client, operator_staff, anna, loose_tag):
    client.force_login(operator_staff)
    assert _found(client, "04:99:aa:bb") == ([], ["0499AABB"])
    assert _found(client, "001-00777") == ([], ["0499AABB"])


def test_a_board_member_only_finds_people_of_their_own_organizations(client, anna, loose_tag, brf_a, brf_b):
    client.force_login(brf_b.board)
    for query in ("070-123 45 67", "Anna Svensson", "04A23B1C5D6E7F", "0499AABB"):
        assert _found(client, query) == ([], [])
    assert client.get(reverse("support:customer_detail", args=[anna.pk])).status_code == 404
    assert client.get(reverse("support:token_detail", args=[loose_tag.pk])).status_code == 404
    client.force_login(brf_a.board)
    assert _found(client, "070-123 45 67") == (["anna.svensson@example.com"], [])


def test_the_lookup_needs_view_permission_on_users(client, brf_a):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.get(reverse(LOOKUP), {"q": "anna"}).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(staff)
    assert client.get(reverse(LOOKUP), {"q": "anna"}).status_code == 200
    client.logout()
    assert client.get(reverse(LOOKUP)).status_code == 302  # to the admin login


@pytest.fixture
def history(anna, brf_a, brf_b, operator_staff):
    """Anna's sessions, attempts, reservations and bookings at BRF A's station and at BRF B's, recent and old."""
    now = timezone.now()
    token = IdToken.objects.get(user=anna)
    own = ChargePoint.objects.create(identity="A-01", organization=brf_a.org, display_name="Laddplats 01")
    foreign = ChargePoint.objects.create(identity="B-01", organization=brf_b.org)
    made = {}
    for cp in (own, foreign):
        evse = Evse.objects.create(charge_point=cp, evse_id=1)
        made[cp.identity] = ChargingSession.objects.create(
            charge_point=cp, evse=evse, organization=cp.organization, id_token=token, id_token_uid=token.uid,
            user=anna, started_at=now - timedelta(days=2), meter_start_wh=0, energy_wh=12_345,
            status=ChargingSession.Status.COMPLETED, stopped_at=now - timedelta(days=2) + timedelta(hours=3))
        AuthorizationAttempt.objects.create(charge_point=cp, evse=evse, id_token=token, id_token_uid=token.uid,
                                            purpose="authorize", status="Blocked", reason=f"blocked at {cp}",
                                            at=now - timedelta(days=1))
        Reservation.objects.create(charge_point=cp, evse=evse, id_token=token, id_token_uid=token.uid,
                                   expires_at=now + timedelta(hours=1), status=Reservation.Status.ACCEPTED)
        Booking.objects.create(evse=evse, user=anna, starts_at=now + timedelta(days=1),
                               ends_at=now + timedelta(days=1, hours=2))
    ChargingSession.objects.create(charge_point=own, evse=own.evses.get(), organization=brf_a.org, user=anna,
                                   started_at=now - timedelta(days=45), meter_start_wh=0, energy_wh=99_000,
                                   status=ChargingSession.Status.COMPLETED)
    id_token_block(token=token, reason="Lost, reported by phone", acting_user=operator_staff)
    # Anna also lives in BRF B, with a tag there.
    MembershipFactory(organization=brf_b.org, user=anna, reference="B-7")
    IdTokenFactory(organization=brf_b.org, user=anna, uid="0BB0B0B0")
    return made


def test_the_person_page_shows_everything_support_needs(client, operator_staff, anna, history):
    client.force_login(operator_staff)
    response = client.get(reverse("support:customer_detail", args=[anna.pk]))
    overview = response.context["overview"]
    assert {m.organization.name for m in overview.memberships} == {"BRF A", "BRF B"}
    assert sorted(t.uid for t in overview.tokens) == ["04A23B1C5D6E7F", "0BB0B0B0"]
    assert sorted(s.charge_point.identity for s in overview.sessions) == ["A-01", "B-01"]
    assert (overview.session_count, overview.energy_kwh) == (2, "24.69")  # the 45-day-old session is left out
    assert {a.reason for a in overview.attempts} == {"blocked at Laddplats 01 (A-01)", "blocked at B-01"}
    assert len(overview.reservations) == 2
    assert sorted(b.evse.charge_point.identity for b in overview.bookings) == ["A-01", "B-01"]
    page = response.content.decode()
    assert "Lost, reported by phone" in page
    assert str(operator_staff) in page
    assert reverse("admin:accounts_user_change", args=[anna.pk]) in page
    assert reverse("admin:charging_chargingsession_change", args=[history["A-01"].pk]) in page
    assert "12.35" in page


def test_a_board_member_sees_only_their_organizations_part_of_the_person(client, brf_a, anna, history):
    client.force_login(brf_a.board)
    response = client.get(reverse("support:customer_detail", args=[anna.pk]))
    assert response.status_code == 200
    overview = response.context["overview"]
    assert [(m.organization.name, m.role) for m in overview.memberships] == [("BRF A", Membership.Role.RESIDENT)]
    assert [t.uid for t in overview.tokens] == ["04A23B1C5D6E7F"]
    assert [s.charge_point.identity for s in overview.sessions] == ["A-01"]
    assert [a.charge_point.identity for a in overview.attempts] == ["A-01"]
    assert [r.charge_point.identity for r in overview.reservations] == ["A-01"]
    assert [b.evse.charge_point.identity for b in overview.bookings] == ["A-01"]
    page = response.content.decode()
    assert "0BB0B0B0" not in page
    assert "BRF B" not in page
    assert "B-01" not in page


def test_the_person_page_costs_a_fixed_number_of_queries(client, operator_staff, anna, history,
                                                         django_assert_max_num_queries):
    client.force_login(operator_staff)
    client.get(reverse("support:customer_detail", args=[anna.pk]))  # warm the session and permission caches
    with django_assert_max_num_queries(13):
        client.get(reverse("support:customer_detail", args=[anna.pk]))


def test_a_tag_page_shows_the_tags_use_and_a_tag_with_an_owner_leads_to_the_person(client, operator_staff, anna,
                                                                                  loose_tag, brf_a):
    cp = ChargePoint.objects.create(identity="A-09", organization=brf_a.org)
    AuthorizationAttempt.objects.create(charge_point=cp, id_token=loose_tag, id_token_uid=loose_tag.uid,
                                        purpose="authorize", status="Accepted", at=timezone.now())
    client.force_login(operator_staff)
    response = client.get(reverse("support:token_detail", args=[loose_tag.pk]))
    assert [a.charge_point.identity for a in response.context["overview"].attempts] == ["A-09"]
    owned = IdToken.objects.get(user=anna)
    response = client.get(reverse("support:token_detail", args=[owned.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("support:customer_detail", args=[anna.pk])


def test_the_support_section_for_the_admin_home_page_links_what_the_viewer_may_open(rf, operator_staff, brf_a):
    from django.contrib.auth.context_processors import PermWrapper
    from django.template.loader import render_to_string

    def links(user) -> str:
        return render_to_string("admin/support/index_section.html", {"perms": PermWrapper(user)})

    support = links(operator_staff)
    assert reverse(LOOKUP) in support
    assert reverse("admin:charging_maintenanceplan_changelist") + "?due=overdue" in support
    board = links(brf_a.board)  # a board looks up its own people and sees its own stations' maintenance
    assert reverse(LOOKUP) in board
    assert reverse("admin:charging_maintenanceplan_changelist") + "?due=overdue" in board
    assert links(UserFactory(is_staff=True)).strip() == ""
