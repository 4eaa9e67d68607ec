"""The tenant isolation matrix of the admin (issue 13), generic over every registered admin page: board members of
housing associations use the admin too, and must never see or change another association's rows.

Organizations A and B have complete data (tests/api/dataset.py: stations, people, tokens, tariffs, sessions,
invoices, payments, statements, bookings, keys, power groups, webhooks); every text of B carries "ORG-B-". For each
model admin, A's board member (admin access, the board permission groups) and A's viewer open the list — B's marker
and links to B's rows must not appear — and every one of B's rows by its change, history and delete address — which
must not answer 200; a POST to B's change and delete pages changes nothing. B's rows are the rows that building B's
data created, so a page whose queryset forgot its tenant filter shows up as a leak, not as an empty set.
"""

from collections import defaultdict

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, reverse

from tests.api.conftest import _FAST
from tests.api.dataset import build

pytestmark = pytest.mark.django_db

#: Rows building B makes that are not B's (shared by every organization), by model label, with why.
SHARED = {
    "contenttypes.contenttype": "Django's content types",
    "auth.permission": "Django's permissions",
    "auth.group": "the board permission groups every association shares",
}


def all_pks() -> dict[str, set]:
    return {model._meta.label_lower: set(model.objects.values_list("pk", flat=True))
            for model in apps.get_models() if model._meta.managed and not model._meta.proxy}


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    from django.db import transaction
    from django.test.utils import override_settings

    with django_db_blocker.unblock(), override_settings(**_FAST):
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            a = build("A")
            before = all_pks()
            b = build("B")
            after = all_pks()
            rows_of_b = {label: after[label] - before.get(label, set()) for label in after
                         if label not in SHARED and after[label] - before.get(label, set())}
            yield a, b, rows_of_b
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def admin_url(model, view: str, *args) -> str | None:
    try:
        return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)
    except NoReverseMatch:
        return None


def registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label_lower)


@pytest.mark.parametrize("role", ["board", "viewer"])
def test_no_admin_page_shows_or_changes_another_associations_rows(world, role):
    a, b, rows_of_b = world
    client = Client()
    client.force_login(getattr(a, role))
    leaks, tried = [], defaultdict(int)
    for model, _model_admin in registered():
        label = model._meta.label_lower
        concrete = model._meta.concrete_model._meta.label_lower
        changelist = admin_url(model, "changelist")
        if changelist:
            response = client.get(changelist, {"all": ""})
            tried["lists"] += 1
            if response.status_code == 200:
                content = response.content.decode()
                if b.marker in content:
                    leaks.append(f"{label} list shows {b.marker}")
                for pk in rows_of_b.get(concrete, ()):
                    change = admin_url(model, "change", pk)
                    if change and f'href="{change}' in content:
                        leaks.append(f"{label} list links to B's row {pk}")
        for pk in sorted(rows_of_b.get(concrete, ())):
            for view in ("change", "history", "delete"):
                url = admin_url(model, view, pk)
                if url is None:
                    continue
                tried["pages"] += 1
                response = client.get(url)
                if response.status_code == 200:
                    leaks.append(f"{label} {view} of B's row {pk} answers 200")
                elif b.marker in response.content.decode():
                    leaks.append(f"{label} {view} of B's row {pk} shows {b.marker}")
            for view, data in (("change", {}), ("delete", {"post": "yes"})):
                url = admin_url(model, view, pk)
                if url is None:
                    continue
                tried["posts"] += 1
                client.post(url, data)
                if not model._meta.concrete_model.objects.filter(pk=pk).exists():
                    leaks.append(f"{label} {view} POST deleted B's row {pk}")
    assert leaks == [], "\n".join(leaks)
    # The matrix reached the admin pages and B's rows (not an empty walk).
    assert tried["lists"] >= 40
    assert tried["pages"] >= 100
    print(f"admin matrix ({role}): {tried['lists']} lists, {tried['pages']} pages and {tried['posts']} POSTs "
          f"on B's rows of {len(rows_of_b)} models, 0 leaks")
