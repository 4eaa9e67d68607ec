"""Settings for csms, read from the environment.

Without any variables set this is the *embedded default*: SQLite (WAL) in ``DATA_DIR``, the in-memory channel
layer and Celery on the ``filesystem://`` broker, so one command runs everything with no servers. Setting
``DATABASE_URL`` and ``REDIS_URL`` scales it out (PostgreSQL, channels-redis, Celery on Redis).
``csms.settings.production`` tightens this for a public deployment. docs/operations.md lists every variable.
"""

import secrets
from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _persistent_secret_key() -> str:
    """A key generated once per data directory, so sessions survive restarts without any set-up."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _persistent_secret_key()
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "djmoney",
    "django_celery_beat",
    "import_export",
    "accounts",
    "charging",
    "billing",
    "roaming",
    "loadbalancing",
    "webhooks",
    "csms.portal",
]

MIDDLEWARE = [
    "csms.observability.logs.request_id_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "csms.urls"
ASGI_APPLICATION = "csms.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "csms.portal.menu.context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the Celery worker read while the other writes; IMMEDIATE transactions take
    # the write lock up front instead of failing with "database is locked" when a read turns into a write.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory, so a real server process started by the conformance tests sees the same test data.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels, cache and Celery: Redis when REDIS_URL is set, embedded otherwise ---------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_DIR = DATA_DIR / "celery-broker"
# Chargers stay connected for weeks; the layers' default (one day) would silently drop them from their command
# group ("cp.<id>") while the socket is still up.
CHANNEL_GROUP_EXPIRY = 10 * 365 * 24 * 3600
if REDIS_URL:
    from redis.asyncio.retry import Retry as RedisRetry
    from redis.backoff import ExponentialBackoff as RedisBackoff

    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "csms.channel_layers.ResilientRedisChannelLayer",
            # redis-py 8 times reads out after 5 s by default, exactly as long as channels_redis blocks waiting for
            # a message: an idle charger's consumer would then die. Let the blocking read take as long as it needs.
            # A connection left broken by a restart of Redis is found by a PING before it is used again (after a
            # second idle) and opened again, instead of failing the next command sent on it.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None, "socket_keepalive": True,
                                  "health_check_interval": 1,
                                  "retry": RedisRetry(RedisBackoff(cap=0.5, base=0.05), 1)}],
                       "group_expiry": CHANNEL_GROUP_EXPIRY},
        }
    }
    # Connections per process to Redis for the cache (threads of one process share the pool; more wait).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "OPTIONS": {"max_connections": env.int("REDIS_CACHE_MAX_CONNECTIONS", default=50)}}}
    CELERY_BROKER_URL = REDIS_URL
    # A task a worker took but never acknowledged (the worker died) goes back to the queue after this many seconds;
    # longer than any task runs (the monthly invoice run of 10 000 residents takes under a minute).
    # Workers look for such tasks every CELERY_UNACKED_RESTORE_SECONDS.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
                                       "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_SECONDS",
                                                                           default=60),
                                       "unacked_restore_throttle": 1}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "csms.channel_layers.SweepingInMemoryChannelLayer",
                                  "CONFIG": {"group_expiry": CHANNEL_GROUP_EXPIRY}}}
    # A file cache is shared by the web server and the worker, unlike the per-process memory cache.
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                    "LOCATION": str(DATA_DIR / "cache")}
    }
    CELERY_BROKER_URL = "filesystem://"
    for folder in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
# Acknowledge a task when it has run, not when it starts: a worker killed mid-task leaves it to be run again (every
# task is safe to run twice: runs skip what is done, sends skip what was sent, payouts carry idempotency keys), and
# take one task at a time so a dying worker holds no others back.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "Europe/Stockholm"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE = {
    "sweep-webhook-deliveries": {"task": "webhooks.tasks.sweep_webhook_deliveries_task", "schedule": 300.0},
    "expire-id-tokens": {"task": "accounts.tasks.expire_id_tokens_task", "schedule": 60.0},
    "mark-offline-charge-points": {"task": "charging.tasks.mark_offline_charge_points_task", "schedule": 60.0},
    "purge-ocpp-frames": {"task": "charging.tasks.purge_ocpp_frames_task", "schedule": 3600.0},
    "purge-connection-events": {"task": "charging.tasks.purge_connection_events_task", "schedule": 3600.0},
    "update-error-rates": {"task": "charging.tasks.update_error_rates_task", "schedule": 3600.0},
    # Tomorrow's day-ahead prices for SE1–SE4 (published around 13:00); later runs retry only what is missing.
    "fetch-spot-prices": {"task": "billing.tasks.fetch_spot_prices_task",
                          "schedule": crontab(minute=45, hour="13,15,17,20")},
    # Access control: record schedule switches within a minute; bookings' reservations, no-shows, fulfilment.
    "sync-access-modes": {"task": "charging.tasks.sync_access_modes_task", "schedule": 60.0},
    "run-bookings": {"task": "charging.tasks.run_bookings_task", "schedule": 60.0},
    "settle-adhoc-payments": {"task": "billing.tasks.adhoc_settle_task", "schedule": 300.0},
    # Finished sessions whose pricing task was never queued (the broker was away when they stopped).
    "price-missing-sessions": {"task": "billing.tasks.price_missing_sessions_task", "schedule": 600.0},
    # Invoices whose send was lost between their commit and the queue (a process died in between).
    "send-unsent-invoices": {"task": "billing.tasks.send_unsent_invoices_task", "schedule": 600.0},
    # Resident invoices for the previous month, on the 1st at 06:00 (CELERY_TIMEZONE).
    "run-invoices": {"task": "billing.tasks.invoice_run_task", "schedule": crontab(minute=0, hour=6, day_of_month=1)},
    # Payment reminders of overdue invoices (and blocking at the third), daily at 07:00 (CELERY_TIMEZONE).
    "run-dunning": {"task": "billing.tasks.dunning_run_task", "schedule": crontab(minute=0, hour=7)},
    # Self-billing statements of the month before, on the last day of the month at 07:30 (the task skips the 28th–30th
    # when they are not the last day; crontab has no "last day").
    "run-statements": {"task": "billing.tasks.statement_run_task",
                       "schedule": crontab(minute=30, hour=7, day_of_month="28-31")},
    # Resellers' commission statements of the month before, an hour after its self-billing statements.
    "run-commissions": {"task": "billing.tasks.commission_run_task",
                        "schedule": crontab(minute=30, hour=8, day_of_month="28-31")},
    # Platform subscription invoices of the quarter before, on the first day of each quarter at 06:30.
    "run-subscriptions": {"task": "billing.tasks.subscription_run_task",
                          "schedule": crontab(minute=30, hour=6, day_of_month=1, month_of_year="1,4,7,10")},
    # Load balancing's safety net: every fuse tree recomputed (stale building readings fall back to failsafe).
    "recompute-power-groups": {"task": "loadbalancing.tasks.recompute_all_task", "schedule": 60.0},
    # OCPI: CDRs of priced roaming sessions never queued (the safety net behind the priced-session listener).
    "ocpi-cdrs-due": {"task": "roaming.tasks.cdrs_push_due_task", "schedule": 60.0},
    # OCPI: TIMEOUT results for commands a charger never answered, and result POSTs the eMSP did not take.
    "ocpi-command-results": {"task": "roaming.tasks.command_results_sweep_task", "schedule": 60.0},
    # Stripe Connect transfers of the payouts due today, daily at 09:00.
    "run-payouts": {"task": "billing.tasks.payouts_execute_task", "schedule": crontab(minute=0, hour=9)},
    # OCPI pushes: retries whose backoff has run out, every minute; locations changed since the last run re-PUT
    # every 15 minutes; tariffs re-PUT daily just after midnight (dynamic ones carry the new day's spot prices).
    "ocpi-send-due-pushes": {"task": "roaming.tasks.pushes_send_due_task", "schedule": 60.0},
    "ocpi-locations-consistency": {"task": "roaming.tasks.locations_consistency_task", "schedule": 900.0},
    "ocpi-tariffs-push": {"task": "roaming.tasks.tariffs_push_task", "schedule": crontab(minute=5, hour=0)},
}

# --- Auth -------------------------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# Permission checks ask each backend in turn until one grants: support staff are answered by the first (one
# cached query per request) before ModelBackend loads their user and group permissions (two more queries).
# Logging in is ModelBackend's alone.
AUTHENTICATION_BACKENDS = [
    "accounts.backends.OperatorSupportBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
PASSWORD_RESET_TIMEOUT = 7 * 24 * 3600  # invitation links stay valid for a week

# --- I18n -------------------------------------------------------------------------------------------------------
LANGUAGE_CODE = "sv"
LANGUAGES = [("sv", "Svenska"), ("en", "English"), ("de", "Deutsch"), ("nb", "Norsk bokmål")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Stockholm"
USE_I18N = True
USE_TZ = True
# The default region for phone numbers typed without a country code.
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="SE")

# --- Static and media -------------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = DATA_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# --- E-mail and SMS ---------------------------------------------------------------------------------------------
EMAIL_CONFIG = env.email("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="csms <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The operator's technical contacts (comma-separated e-mail addresses): server errors and missing spot prices.
ADMINS = [("", address) for address in env.list("ADMINS", default=[])]
# Dotted path of the SMS backend (accounts.sms); the console backend writes messages to the log.
SMS_BACKEND = env.str("SMS_BACKEND", default="accounts.sms.ConsoleSmsBackend")
# Absolute base URL used in links sent by e-mail/SMS (invitations, pay links).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://localhost:8000")
# /metrics asks for "Authorization: Bearer <METRICS_TOKEN>" when this is set (block /metrics at the proxy otherwise).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- DRF --------------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

# drf-spectacular: one name per choice set that several serializers share (the Connect API schema at
# /api/v1/schema/ and the schema check of `manage.py check`).
SPECTACULAR_SETTINGS = {
    "ENUM_NAME_OVERRIDES": {
        "ChargingProfilePurposeEnum": "charging.models.profiles.ChargingProfile.Purpose",
        "ChargingProfileKindEnum": "charging.models.profiles.ChargingProfile.Kind",
        "ChargingProfileStatusEnum": "charging.models.profiles.ChargingProfile.Status",
        "RemoteCommandStatusEnum": "charging.models.stations.RemoteCommand.Status",
        "ReservationStatusEnum": "charging.models.stations.Reservation.Status",
        "ChargingSessionStatusEnum": "charging.models.stations.ChargingSession.Status",
        "ConnectorStandardEnum": "charging.models.stations.Connector.Standard",
    },
}

# --- Connect API (csms/api) ----------------------------------------------------------------------------------------
# Requests per API key (or signed-in user) per minute; beyond it the API answers 429 with Retry-After.
CSMS_API_RATE = env.str("CSMS_API_RATE", default="600/min")

# --- OCPI roaming -----------------------------------------------------------------------------------------------
# Our CPO identity towards roaming partners and the business name in our credentials. Partners call OCPI_BASE_URL
# (our versions endpoint is OCPI_BASE_URL + "/versions").
OCPI_COUNTRY_CODE = env.str("OCPI_COUNTRY_CODE", default="SE")
OCPI_PARTY_ID = env.str("OCPI_PARTY_ID", default="CSM")
OCPI_BUSINESS_NAME = env.str("OCPI_BUSINESS_NAME", default="csms")
OCPI_BASE_URL = env.str("OCPI_BASE_URL", default=PUBLIC_BASE_URL.rstrip("/") + "/ocpi")
# Seconds to wait for a partner's answer.
OCPI_REQUEST_TIMEOUT = env.float("OCPI_REQUEST_TIMEOUT", default=10.0)
# Seconds a real-time token authorization with an eMSP may take (a charger is waiting for the answer).
OCPI_AUTHORIZE_TIMEOUT = env.float("OCPI_AUTHORIZE_TIMEOUT", default=3.0)

# --- OCPP gateway -----------------------------------------------------------------------------------------------
# Unknown identities are refused; with this on they are registered as Pending (for commissioning) instead.
OCPP_AUTO_REGISTER_ORGANIZATION = env.str("OCPP_AUTO_REGISTER_ORGANIZATION", default="")
OCPP_FRAME_LOG = env.bool("OCPP_FRAME_LOG", default=True)
OCPP_FRAME_RETENTION_DAYS = env.int("OCPP_FRAME_RETENTION_DAYS", default=30)
OCPP_SEEN_WRITE_INTERVAL = env.float("OCPP_SEEN_WRITE_INTERVAL", default=30.0)
# Seconds the gateway gathers last-seen notes, connection events and frames before writing them in one go.
OCPP_BATCH_FLUSH_SECONDS = env.float("OCPP_BATCH_FLUSH_SECONDS", default=1.0)
# Each server process renews its presence (charging.ServerProcess) this often; one silent for the TTL is taken for
# dead and its chargers are marked offline by the others (within TTL + beat: 60 s by default).
OCPP_PRESENCE_BEAT_SECONDS = env.float("OCPP_PRESENCE_BEAT_SECONDS", default=15.0)
OCPP_PRESENCE_TTL_SECONDS = env.float("OCPP_PRESENCE_TTL_SECONDS", default=45.0)
# A connection that sent nothing for this many heartbeat intervals is closed (the web server sends no websocket pings;
# the heartbeat is the liveness check). Looked at every OCPP_SILENCE_CHECK_SECONDS.
OCPP_SILENT_CLOSE_INTERVALS = env.float("OCPP_SILENT_CLOSE_INTERVALS", default=3.0)
OCPP_SILENCE_CHECK_SECONDS = env.float("OCPP_SILENCE_CHECK_SECONDS", default=60.0)
# Garbage collection in the web server processes (csms/observability/garbage.py): every GC_FREEZE_SECONDS (0: only
# at start-up) the objects alive are frozen, so a collection never walks the whole fleet's objects; a full sweep of
# the frozen ones every GC_SWEEP_SECONDS frees their reference cycles (0: never).
# GC_THRESHOLDS as gc.set_threshold().
GC_FREEZE_SECONDS = env.float("GC_FREEZE_SECONDS", default=60.0)
GC_SWEEP_SECONDS = env.float("GC_SWEEP_SECONDS", default=3600.0)
GC_THRESHOLDS = tuple(env.list("GC_THRESHOLDS", cast=int, default=[50_000, 20, 100]))
# A collection that stalls the process longer than this is logged (csms.gc).
GC_SLOW_PAUSE_SECONDS = env.float("GC_SLOW_PAUSE_SECONDS", default=0.1)
# How long the load balancer waits for a charger to answer a SetChargingProfile.
LOADBALANCING_COMMAND_TIMEOUT = env.float("LOADBALANCING_COMMAND_TIMEOUT", default=10.0)
OCPP_MAX_FRAME_BYTES = env.int("OCPP_MAX_FRAME_BYTES", default=65536)
# Basic-auth guessing: after this many wrong keys for one identity from one address (or five times as many from one
# address for any identities) within the lockout time, that pair (that address) is refused for the lockout time.
OCPP_AUTH_MAX_FAILURES = env.int("OCPP_AUTH_MAX_FAILURES", default=10)
OCPP_AUTH_LOCKOUT_SECONDS = env.int("OCPP_AUTH_LOCKOUT_SECONDS", default=300)
# Also check our own answers against the schemas (on in tests; costs CPU per message).
OCPP_VALIDATE_RESPONSES = env.bool("OCPP_VALIDATE_RESPONSES", default=False)
OCPP_DEFAULT_COMMAND_TIMEOUT = env.float("OCPP_DEFAULT_COMMAND_TIMEOUT", default=30.0)
# Connect/disconnect history kept for the connectivity page.
CONNECTION_EVENT_RETENTION_DAYS = env.int("CONNECTION_EVENT_RETENTION_DAYS", default=90)

# --- Alarms -----------------------------------------------------------------------------------------------------
# A station not connected and silent for this many seconds gets an OFFLINE alarm (the sweep runs every minute).
ALARM_OFFLINE_AFTER = env.int("ALARM_OFFLINE_AFTER", default=600)
# A notification group is e-mailed at most once per station and alarm kind within this many seconds.
ALARM_NOTIFY_MIN_INTERVAL = env.int("ALARM_NOTIFY_MIN_INTERVAL", default=1800)

# Ad-hoc charging via QR (billing/services/adhoc.py): the card pre-authorization a guest's charge may use at most.
ADHOC_PREAUTH_AMOUNT = env.str("ADHOC_PREAUTH_AMOUNT", default="300")

# Webhooks (webhooks/): (connect, read) timeouts in seconds, the waits between attempts, how many failed attempts
# in a row disable an endpoint, whether plain http / local addresses may be registered (local receivers in tests and
# development only), and how long the delivery log is kept.
WEBHOOK_TIMEOUT = (env.float("WEBHOOK_CONNECT_TIMEOUT", default=3.0), env.float("WEBHOOK_READ_TIMEOUT", default=10.0))
WEBHOOK_RETRY_DELAYS = env.list("WEBHOOK_RETRY_DELAYS", cast=int, default=[30, 120, 600, 3600, 21600])
WEBHOOK_DISABLE_AFTER = env.int("WEBHOOK_DISABLE_AFTER", default=10)
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=False)
# Receivers on loopback/private networks; unset follows WEBHOOK_ALLOW_HTTP (never allow them in production: a tenant
# could make the server call into its own network).
WEBHOOK_ALLOW_PRIVATE_HOSTS = env.bool("WEBHOOK_ALLOW_PRIVATE_HOSTS", default=None)
WEBHOOK_DELIVERY_RETENTION_DAYS = env.int("WEBHOOK_DELIVERY_RETENTION_DAYS", default=30)

# --- Money ------------------------------------------------------------------------------------------------------
CURRENCIES = ("SEK", "NOK", "EUR", "DKK")
DEFAULT_CURRENCY = "SEK"

# --- Resident invoices ---------------------------------------------------------------------------------------------
# The seller of resident invoices (the operator the associations assign their claims to): an organization slug;
# empty means the one organization of kind "operator". Its series is created with INVOICE_SERIES_PREFIX (digits).
INVOICE_SELLER_SLUG = env.str("INVOICE_SELLER_SLUG", default="")
INVOICE_SERIES_PREFIX = env.str("INVOICE_SERIES_PREFIX", default="1")
INVOICE_NUMBER_WIDTH = 4
INVOICE_DUE_DAYS = 10
# Buyers invoiced per transaction of the monthly run (memory and lock time against the number of transactions).
INVOICE_RUN_BATCH = env.int("INVOICE_RUN_BATCH", default=500)
# An issued invoice still unsent after this long has lost its send; the send-unsent-invoices job queues it again.
INVOICE_UNSENT_AFTER_MINUTES = env.int("INVOICE_UNSENT_AFTER_MINUTES", default=10)
# Platform subscription invoices to organizations (quarterly, in arrears) are due this many days after issue.
SUBSCRIPTION_DUE_DAYS = env.int("SUBSCRIPTION_DUE_DAYS", default=30)
# Self-billing statements are numbered in each association's own series; its prefix when the run creates the series.
STATEMENT_SERIES_PREFIX = env.str("STATEMENT_SERIES_PREFIX", default="S-")
# The operator's client funds account that payouts in bank payment files (pain.001) are paid from.
PAYOUT_DEBTOR = {
    "name": env.str("PAYOUT_DEBTOR_NAME", default=""),
    "org_number": env.str("PAYOUT_DEBTOR_ORG_NUMBER", default=""),
    "iban": env.str("PAYOUT_DEBTOR_IBAN", default=""),
    "bic": env.str("PAYOUT_DEBTOR_BIC", default=""),
}
INVOICE_BANKGIRO = env.str("INVOICE_BANKGIRO", default="")
# Dunning: reminders 1, 2 and 3 this many days after the due date (the third blocks the buyer's tokens), and the
# reminder fee agreed with the residents (SEK, charged once per invoice with the first reminder; the law allows at
# most 60 SEK, dunning refuses to run with more).
DUNNING_REMINDER_DAYS = [int(days) for days in env.list("DUNNING_REMINDER_DAYS", default=["3", "10", "17"])]
DUNNING_REMINDER_FEE = env.str("DUNNING_REMINDER_FEE", default="0")

# --- Tariffs and spot prices --------------------------------------------------------------------------------------
# Day-ahead price source for the daily fetch: "elprisetjustnu" (SEK, no token) or "entsoe" (EUR, needs the token).
SPOT_PRICE_SOURCE = env.str("SPOT_PRICE_SOURCE", default="elprisetjustnu")
ENTSOE_API_TOKEN = env.str("ENTSOE_API_TOKEN", default="")
SPOT_FETCH_TIMEOUT = env.float("SPOT_FETCH_TIMEOUT", default=30.0)
# Spot price per kWh excl. VAT used where none is stored, per currency ("SEK=1.00") or area and currency
# ("SE4:SEK=1.40"); never zero. Every currency a dynamic tariff uses needs an entry.
SPOT_FALLBACK_PRICE = env.dict("SPOT_FALLBACK_PRICE",
                               default={"SEK": "1.00", "NOK": "1.00", "DKK": "0.65", "EUR": "0.09"})
# Units of each currency per EUR, to read EUR spot prices (ENTSO-E) in another currency, e.g. "SEK=11.50".
SPOT_EXCHANGE_RATES = env.dict("SPOT_EXCHANGE_RATES", default={})

# --- Stripe (card, Apple Pay, Google Pay, Klarna for resident invoices; billing/stripe_gateway.py) ----------------
# Empty keys switch Stripe off: the gateway refuses to build a client. The tests point STRIPE_API_BASE at localstripe.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")

# --- Swish Commerce (payment requests for resident invoices; billing/swish.py, billing/services/swish_payments.py) ---
# Any of the first five empty switches Swish off: no Swish button on the pay page, the Swish endpoints answer 404.
# Swish calls back PUBLIC_BASE_URL + /billing/swish/callback/, which must be https.
SWISH_BASE_URL = env.str("SWISH_BASE_URL", default="")  # e.g. https://cpc.getswish.net/swish-cpcapi
SWISH_PAYEE_ALIAS = env.str("SWISH_PAYEE_ALIAS", default="")  # the merchant's Swish number (123…)
SWISH_CERT_FILE = env.str("SWISH_CERT_FILE", default="")  # client certificate (PEM)
SWISH_KEY_FILE = env.str("SWISH_KEY_FILE", default="")
SWISH_CA_FILE = env.str("SWISH_CA_FILE", default="")  # Swish's server CA
SWISH_KEY_PASSWORD = env.str("SWISH_KEY_PASSWORD", default="")
SWISH_TIMEOUT = env.float("SWISH_TIMEOUT", default=10.0)

# --- Logging ----------------------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# LOG_FORMAT=json: one JSON object per line with the request id and charge point (csms.observability.logs).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "csms.observability.logs.ContextFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
                   "json": {"()": "csms.observability.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json" if LOG_FORMAT == "json" else "plain",
                             "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "daphne": {"level": "INFO"},
        # The web server's own lines (websockets accepted/closed, HTTP access) in the same format as ours.
        "uvicorn": {"level": LOG_LEVEL, "handlers": ["console"], "propagate": False},
        "uvicorn.error": {"level": LOG_LEVEL, "handlers": [], "propagate": True},
        "uvicorn.access": {"level": LOG_LEVEL, "handlers": [], "propagate": True},
        # The ocpp library logs every frame at INFO; the frame log (OcppFrame) already keeps them.
        "ocpp": {"level": env.str("OCPP_LIBRARY_LOG_LEVEL", default="WARNING")},
    },
}
