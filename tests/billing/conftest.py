"""Shared fixtures of the billing tests: the tenants, and a localstripe server for the Stripe gateway."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.accounts.conftest import Tenant, brf_a, brf_b, operator_staff  # noqa: F401
from tests.servers import free_port, wait_for_port

# Stripe Connect as Stripe documents it (docs.stripe.com/api: Accounts, Account Links, Transfers, Transfer Reversals,
# Balance), for the part payouts to associations use: form-encoded requests parsed by localstripe's own parser, the
# secret key required by its auth middleware, answers in Stripe's JSON shapes and errors in Stripe's error shape with
# Stripe's codes and HTTP statuses. Two paths that are not Stripe's let tests play the parts Stripe plays: the
# association finishing onboarding (POST /_test/accounts/<id>/onboard, JSON {"verified": false} for "submitted, still
# being verified") and money arriving on the platform (POST /_test/balance, JSON {"currency": "sek", "available": öre}).
_CONNECT = r"""
import secrets
import time

from localstripe.server import get_post_data, unflatten_data

connect_accounts = {}
connect_transfers = {}
platform_available = {}

_CURRENCY_OF_COUNTRY = {"SE": "sek", "NO": "nok", "DK": "dkk", "FI": "eur", "DE": "eur", "GB": "gbp", "US": "usd"}
# What Stripe asks of a new company account before it may receive money; onboarding collects it.
_INITIAL_REQUIREMENTS = ["business_profile.mcc", "business_profile.url", "business_type", "external_account",
                         "representative.first_name", "representative.last_name", "tos_acceptance.date",
                         "tos_acceptance.ip"]
_DEFAULT_CAPABILITIES = {"standard": ["card_payments", "transfers"]}


def stripe_error(status, message, code=None, param=None, error_type="invalid_request_error"):
    error = {"type": error_type, "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = "https://stripe.com/docs/error-codes/" + code.replace("_", "-")
    if param:
        error["param"] = param
    return web.json_response({"error": error}, status=status)


def missing(data, *names):
    for name in names:
        if data.get(name) in (None, ""):
            return stripe_error(400, "Missing required param: %s." % name, "parameter_missing", name)
    return None


def positive_integer(value, name):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None, stripe_error(400, "Invalid integer: %s" % value, "parameter_invalid_integer", name)
    if str(number) != str(value).strip() or number < 1:
        return None, stripe_error(400, "Invalid positive integer", "parameter_invalid_integer", name)
    return number, None


def requested(value):
    return isinstance(value, dict) and str(value.get("requested", "")).lower() == "true"


async def create_account(request):
    data = await get_post_data(request) or {}
    kind = data.get("type")
    if kind not in ("custom", "express", "standard"):
        return stripe_error(400, "Invalid type: must be one of custom, express, or standard", param="type")
    country = str(data.get("country") or "SE").upper()
    if country not in _CURRENCY_OF_COUNTRY:
        return stripe_error(400, "Country '%s' is unknown or not supported." % country, param="country")
    capabilities = [name for name, value in (data.get("capabilities") or {}).items() if requested(value)]
    if kind == "standard" and not capabilities:
        capabilities = list(_DEFAULT_CAPABILITIES["standard"])
    if kind != "standard" and "card_payments" in capabilities and "transfers" not in capabilities:
        return stripe_error(400, "In order to request the `card_payments` capability, you must also request the "
                                 "`transfers` capability.", param="capabilities")
    account_id = "acct_" + secrets.token_hex(8)
    profile = data.get("business_profile") or {}
    account = {
        "id": account_id, "object": "account", "type": kind, "country": country,
        "email": data.get("email"), "business_type": data.get("business_type"),
        "business_profile": {"name": profile.get("name"), "url": profile.get("url"), "mcc": profile.get("mcc")},
        "capabilities": {name: "inactive" for name in capabilities},
        "charges_enabled": False, "payouts_enabled": False, "details_submitted": False,
        "default_currency": _CURRENCY_OF_COUNTRY[country], "metadata": data.get("metadata") or {},
        "requirements": {"currently_due": list(_INITIAL_REQUIREMENTS), "eventually_due": list(_INITIAL_REQUIREMENTS),
                         "past_due": list(_INITIAL_REQUIREMENTS), "pending_verification": [], "errors": [],
                         "current_deadline": None, "disabled_reason": "requirements.past_due"},
        "external_accounts": {"object": "list", "data": [], "has_more": False, "total_count": 0,
                              "url": "/v1/accounts/%s/external_accounts" % account_id},
        "tos_acceptance": {"date": None}, "created": int(time.time()), "livemode": False,
    }
    connect_accounts[account_id] = account
    return web.json_response(account)


def retrieve_account(request):
    account = connect_accounts.get(request.match_info["id"])
    if account is None:
        return stripe_error(404, "No such account: '%s'" % request.match_info["id"], "resource_missing", "account")
    return web.json_response(account)


async def create_account_link(request):
    data = await get_post_data(request) or {}
    error = missing(data, "account", "type")
    if error:
        return error
    account = connect_accounts.get(data["account"])
    if account is None:
        return stripe_error(400, "No such account: '%s'" % data["account"], "resource_missing", "account")
    if data["type"] not in ("account_onboarding", "account_update"):
        return stripe_error(400, "Invalid type: must be one of account_onboarding or account_update", param="type")
    if data["type"] == "account_update" and account["type"] != "custom":
        return stripe_error(400, "You cannot create `account_update` type Account Links for accounts with access "
                                 "to a Stripe-hosted Dashboard.", param="type")
    for name in ("refresh_url", "return_url"):
        if data.get(name) and not str(data[name]).startswith(("http://", "https://")):
            return stripe_error(400, "Not a valid URL", "url_invalid", name)
    now = int(time.time())
    path = "e" if account["type"] == "express" else "s"
    return web.json_response({"object": "account_link", "created": now, "expires_at": now + 300,
                              "url": "https://connect.stripe.com/setup/%s/%s/%s" % (
                                  path, account["id"], secrets.token_urlsafe(9))})


async def onboard_account(request):
    account = connect_accounts.get(request.match_info["id"])
    if account is None:
        return stripe_error(404, "No such account: '%s'" % request.match_info["id"], "resource_missing", "account")
    data = await get_post_data(request) or {}
    verified = str(data.get("verified", "true")).lower() != "false"
    due = account["requirements"]["currently_due"]
    account["details_submitted"] = True
    account["tos_acceptance"]["date"] = int(time.time())
    account["requirements"].update(currently_due=[], eventually_due=[], past_due=[],
                                   pending_verification=[] if verified else due,
                                   disabled_reason=None if verified else "requirements.pending_verification")
    account["capabilities"] = {name: "active" if verified else "pending" for name in account["capabilities"]}
    account["charges_enabled"] = account["capabilities"].get("card_payments") == "active"
    account["payouts_enabled"] = verified
    if verified:
        account["external_accounts"]["data"] = [{"id": "ba_" + secrets.token_hex(8), "object": "bank_account",
                                                 "account": account["id"], "country": account["country"],
                                                 "currency": account["default_currency"], "last4": "3000",
                                                 "status": "new", "default_for_currency": True}]
        account["external_accounts"]["total_count"] = 1
    return web.json_response(account)


def balance_json():
    currencies = sorted(platform_available) or ["sek"]
    return {"object": "balance", "livemode": False,
            "available": [{"amount": platform_available.get(c, 0), "currency": c,
                           "source_types": {"card": platform_available.get(c, 0)}} for c in currencies],
            "pending": [{"amount": 0, "currency": c, "source_types": {"card": 0}} for c in currencies]}


def retrieve_balance(request):
    return web.json_response(balance_json())


async def set_balance(request):
    data = await get_post_data(request) or {}
    error = missing(data, "currency", "available")
    if error:
        return error
    try:
        platform_available[str(data["currency"]).lower()] = int(data["available"])
    except (TypeError, ValueError):
        return stripe_error(400, "Invalid integer: %s" % data["available"], "parameter_invalid_integer", "available")
    return web.json_response(balance_json())


async def create_transfer(request):
    data = await get_post_data(request) or {}
    error = missing(data, "amount", "currency", "destination")
    if error:
        return error
    amount, error = positive_integer(data["amount"], "amount")
    if error:
        return error
    currency = str(data["currency"]).lower()
    destination = connect_accounts.get(data["destination"])
    if destination is None:
        return stripe_error(400, "No such destination: '%s'" % data["destination"], "resource_missing",
                            "destination")
    if destination["capabilities"].get("transfers") != "active":
        return stripe_error(400, "Your destination account needs to have at least one of the following "
                                 "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                            "insufficient_capabilities_for_transfer", "destination")
    if platform_available.get(currency, 0) < amount:
        return stripe_error(400, "You have insufficient available funds in your Stripe account. Try adding funds "
                                 "directly to your available balance by creating Charges using the "
                                 "4000000000000077 test card. See: https://stripe.com/docs/testing#available-balance",
                            "balance_insufficient")
    platform_available[currency] -= amount
    transfer_id = "tr_" + secrets.token_hex(12)
    transfer = {
        "id": transfer_id, "object": "transfer", "amount": amount, "amount_reversed": 0,
        "balance_transaction": "txn_" + secrets.token_hex(12), "created": int(time.time()), "currency": currency,
        "description": data.get("description"), "destination": destination["id"],
        "destination_payment": "py_" + secrets.token_hex(12), "livemode": False, "metadata": data.get("metadata") or {},
        "reversals": {"object": "list", "data": [], "has_more": False, "total_count": 0,
                      "url": "/v1/transfers/%s/reversals" % transfer_id},
        "reversed": False, "source_transaction": None, "source_type": "card",
        "transfer_group": data.get("transfer_group"),
    }
    connect_transfers[transfer_id] = transfer
    return web.json_response(transfer)


def retrieve_transfer(request):
    transfer = connect_transfers.get(request.match_info["id"])
    if transfer is None:
        return stripe_error(404, "No such transfer: '%s'" % request.match_info["id"], "resource_missing", "id")
    return web.json_response(transfer)


def list_transfers(request):
    query = unflatten_data(request.query)
    limit, error = positive_integer(query.get("limit", 10), "limit")
    if error or limit > 100:
        return error or stripe_error(400, "This value must be less than or equal to 100.",
                                     "parameter_invalid_integer", "limit")
    found = [t for t in sorted(connect_transfers.values(), key=lambda t: t["created"], reverse=True)
             if query.get("destination") in (None, t["destination"])
             and query.get("transfer_group") in (None, t["transfer_group"])]
    return web.json_response({"object": "list", "data": found[:limit], "has_more": len(found) > limit,
                              "url": "/v1/transfers"})


async def create_reversal(request):
    transfer = connect_transfers.get(request.match_info["id"])
    if transfer is None:
        return stripe_error(404, "No such transfer: '%s'" % request.match_info["id"], "resource_missing", "id")
    data = await get_post_data(request) or {}
    remaining = transfer["amount"] - transfer["amount_reversed"]
    amount, error = positive_integer(data.get("amount", remaining), "amount")
    if error:
        return error
    if amount > remaining:
        return stripe_error(400, "You cannot reverse more than the amount remaining on the transfer (%s)."
                            % remaining, "parameter_invalid_integer", "amount")
    reversal = {"id": "trr_" + secrets.token_hex(12), "object": "transfer_reversal", "amount": amount,
                "balance_transaction": "txn_" + secrets.token_hex(12), "created": int(time.time()),
                "currency": transfer["currency"], "destination_payment_refund": "pyr_" + secrets.token_hex(12),
                "metadata": data.get("metadata") or {}, "source_refund": None, "transfer": transfer["id"]}
    transfer["amount_reversed"] += amount
    transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
    transfer["reversals"]["data"].insert(0, reversal)
    transfer["reversals"]["total_count"] += 1
    platform_available[transfer["currency"]] = platform_available.get(transfer["currency"], 0) + amount
    return web.json_response(reversal)


server.app.router.add_post("/v1/accounts", create_account)
server.app.router.add_get("/v1/accounts/{id}", retrieve_account)
server.app.router.add_post("/v1/account_links", create_account_link)
server.app.router.add_get("/v1/balance", retrieve_balance)
server.app.router.add_post("/v1/transfers", create_transfer)
server.app.router.add_get("/v1/transfers", list_transfers)
server.app.router.add_get("/v1/transfers/{id}", retrieve_transfer)
server.app.router.add_post("/v1/transfers/{id}/reversals", create_reversal)
server.app.router.add_post("/_test/accounts/{id}/onboard", onboard_account)
server.app.router.add_post("/_test/balance", set_balance)
"""

# localstripe as a child process, changed in four ways before it starts: it listens on 127.0.0.1 only (its own
# start() binds every interface), it keeps nothing in /tmp/localstripe.pickle (shared by every run on the machine),
# it honours Idempotency-Key the way Stripe does, which localstripe itself ignores: a key replays the first answer
# (successes and card declines alike) and a key reused with other parameters is refused with idempotency_error, and
# it serves the part of Stripe Connect that payouts to associations use (_CONNECT below), which localstripe lacks.
_LOCALSTRIPE = r"""
import sys
from aiohttp import web
import localstripe.resources as resources
resources.Store.dump_to_disk = lambda self: None
# localstripe's /v1/balance answers a made-up 20.00 EUR in a shape Stripe never sends; _CONNECT serves Stripe's.
resources.extra_apis[:] = [api for api in resources.extra_apis if api[1] != "/v1/balance"]
from localstripe import server

answers = {}

@web.middleware
async def idempotency(request, handler):
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    fingerprint = (request.path, await request.read())
    if key in answers:
        first, status, body = answers[key]
        if first != fingerprint:
            return web.json_response({"error": {"type": "idempotency_error", "message": "Keys for idempotent "
                                      "requests can only be used with the same parameters they were first used with."}},
                                     status=400)
        return web.Response(status=status, text=body, content_type="application/json",
                            headers={"Idempotent-Replayed": "true"})
    response = await handler(request)
    if response.status < 500:
        answers[key] = (fingerprint, response.status, response.text)
    return response

server.app.middlewares.insert(0, idempotency)
""" + _CONNECT + r"""
web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


@pytest.fixture(scope="session")
def localstripe():
    """The base URL of a localstripe server on a free loopback port. Skips when it cannot start (fails with CI=true)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="localstripe-") as directory:
        log = Path(directory) / "localstripe.log"
        with log.open("w") as output:
            process = subprocess.Popen([sys.executable, "-c", _LOCALSTRIPE, str(port)], stdout=output,
                                       stderr=subprocess.STDOUT, cwd=directory)
            try:
                try:
                    wait_for_port(port, process, seconds=30)
                except RuntimeError as error:
                    message = f"localstripe did not start: {error}\n{log.read_text()[-3000:]}"
                    if os.environ.get("CI") == "true":
                        pytest.fail(message)
                    pytest.skip(message)
                yield f"http://127.0.0.1:{port}"
            finally:
                process.terminate()
                process.wait(10)
