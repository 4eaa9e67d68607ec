"""The portal in Swedish, German and Norwegian (issue 11): the board's and residents' pages in Swedish, the resident
and public QR pages in German and Norwegian bokmål too, money and dates the reader's way — and catalogues that
compile and keep every placeholder of their source text.
"""

import gettext
import html
import re
import subprocess
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from billing.models import SessionCost
from charging.models import ChargingSession
from tests.charging.factories import ChargePointFactory, EvseFactory, LocationFactory

pytestmark = pytest.mark.django_db

LOCALE = Path(settings.BASE_DIR) / "locale"
LANGUAGES = ["sv", "de", "nb"]
PLACEHOLDER = re.compile(r"%(?:\([a-z_]+\))?[sdif]|%%|\{[a-z_]*\}|\{\{ *\w+ *\}\}")


def page(client, url: str, language: str) -> str:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, url
    return html.unescape(response.content.decode()).replace("\u00a0", " ")


@pytest.fixture
def station(brf_a):
    point = ChargePointFactory(organization=brf_a.org, location=LocationFactory(organization=brf_a.org),
                               display_name="Laddplats 1", access_mode="public")
    evse = EvseFactory(charge_point=point, evse_id=1)
    started = timezone.now().replace(day=1, hour=12, minute=0) - timedelta(days=40)
    session = ChargingSession.objects.create(
        charge_point=point, evse=evse, organization=brf_a.org, user=brf_a.residents[0], id_token=brf_a.tokens[0],
        started_at=started, stopped_at=started + timedelta(hours=3), meter_start_wh=0, meter_stop_wh=831_175,
        energy_wh=831_175, status=ChargingSession.Status.COMPLETED)
    SessionCost.objects.create(session=session, currency="SEK", energy_wh=831_175, total_excl_vat=Decimal("2659.76"),
                               total_vat=Decimal("664.94"), total_incl_vat=Decimal("3324.70"),
                               priced_at=timezone.now())
    return point


def test_the_board_pages_are_swedish_with_swedish_money_and_dates(client, brf_a, station):
    assert "Logga in" in page(client, reverse("portal:login"), "sv")
    client.force_login(brf_a.board)
    overview = page(client, reverse("portal:dashboard"), "sv")
    for text in ("Översikt", "Laddstationer", "Användare & taggar", "Grupper & priser", "Logga ut",
                 "Laddningar i dag", "Intäkter den här månaden"):
        assert text in overview
    sessions = page(client, reverse("portal:reports_sessions"), "sv")
    assert "3 324,70 kr" in sessions
    month = timezone.localtime(ChargingSession.objects.get().started_at).month
    swedish_months = ["jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"]
    assert re.search(rf"\d{{1,2}} {swedish_months[month - 1]}\w* 20\d\d", sessions, re.IGNORECASE)
    english = page(client, reverse("portal:dashboard"), "en")
    assert "Overview" in english
    assert "Översikt" not in english


@pytest.mark.parametrize(("language", "texts"), [
    ("sv", ["Mina laddningar", "Mina fakturor", "Mina taggar", "Mina bokningar"]),
    ("de", ["Meine Ladevorgänge", "Meine Rechnungen", "Meine Ladekarten", "Meine Buchungen"]),
    ("nb", ["Mine ladinger", "Mine fakturaer", "Mine brikker", "Mine bestillinger"]),
])
def test_a_resident_reads_their_pages_in_their_language(client, brf_a, station, language, texts):
    client.force_login(brf_a.residents[0])
    content = page(client, reverse("portal:my_sessions"), language)
    for text in texts:
        assert text in content
    assert page(client, reverse("portal:my_invoices"), language)


@pytest.mark.parametrize(("language", "text"), [("sv", "Ladda här"), ("de", "Hier laden"), ("nb", "Lad her")])
def test_the_public_qr_page_speaks_the_guests_language(client, station, language, text):
    evse = station.evses.get()
    assert text in page(client, reverse("portal:public_start", args=[evse.public_code]), language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_catalogue_compiles(language, tmp_path):
    source = LOCALE / language / "LC_MESSAGES" / "django.po"
    result = subprocess.run(["msgfmt", "--check", "-o", str(tmp_path / "django.mo"), str(source)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # The committed .mo is the one compiled from this .po (run compilemessages after editing it).
    with open(LOCALE / language / "LC_MESSAGES" / "django.mo", "rb") as compiled:
        committed = gettext.GNUTranslations(compiled)
    with open(source, "rb") as text:
        catalog = read_po(text, locale=language)
    stale = [message.id for message in catalog if message.id and isinstance(message.id, str) and message.string
             and "fuzzy" not in message.flags and committed.gettext(message.id) != message.string]
    assert stale == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_translation_drops_or_adds_a_placeholder(language):
    with open(LOCALE / language / "LC_MESSAGES" / "django.po", "rb") as source:
        catalog = read_po(source, locale=language)
    wrong, translated = [], 0
    for message in catalog:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for index, text in enumerate(strings):
            if not text:
                continue
            translated += 1
            original = ids[min(index, len(ids) - 1)]
            if sorted(PLACEHOLDER.findall(original)) != sorted(PLACEHOLDER.findall(text)):
                wrong.append(f"{original!r} → {text!r}")
    assert wrong == []
    assert translated >= (600 if language == "sv" else 100)
