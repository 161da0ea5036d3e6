"""Portico settings: one module, driven by the environment, with defaults that run locally.

Production differs only by environment (DEBUG off, SECRET_KEY, PORTICO_BASE_URL with https) and
passes `manage.py check --deploy`.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

# --- Core -------------------------------------------------------------------------------------
DEBUG: bool = env.bool("DEBUG", default=False)
_INSECURE_DEV_KEY = "portico-insecure-development-key-do-not-use-in-production"
# A missing SECRET_KEY is only tolerated in local development (the tests set one: conftest.py).
SECRET_KEY: str = env("SECRET_KEY", default=_INSECURE_DEV_KEY if DEBUG else None) or ""
if not SECRET_KEY:
    raise environ.ImproperlyConfigured("Set SECRET_KEY (or DEBUG=true for local development).")

# Tenant hosts are <slug>.<PORTICO_BASE_DOMAIN>; absolute URLs built without a request (SP metadata,
# e-mails) take their scheme and port from PORTICO_BASE_URL.
PORTICO_BASE_DOMAIN: str = env("PORTICO_BASE_DOMAIN", default="localhost").lower().strip(".")
PORTICO_BASE_URL: str = env("PORTICO_BASE_URL", default="http://localhost:8000").rstrip("/")
_base = urlsplit(PORTICO_BASE_URL)
PORTICO_URL_SCHEME: str = _base.scheme or "http"
PORTICO_URL_PORT: int | None = _base.port
HTTPS: bool = PORTICO_URL_SCHEME == "https"

ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=[PORTICO_BASE_DOMAIN, f".{PORTICO_BASE_DOMAIN}", "127.0.0.1"]
)

# --- Applications (django-tenants: public schema vs. one schema per tenant) --------------------
SHARED_APPS = [
    "django_tenants",
    "tenants",
    "outbox",
    "support",
    "sso",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Django admin with Portico's site (portal.admin_site): a verified second factor for support staff.
    "portal.apps.PorticoAdminConfig",
    "django.contrib.staticfiles",
    "djangosaml2",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    # Last: its admin composes the Tenant admin from the feature apps' pieces; demo_setup lives here.
    "portal",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "provisioning",
    "scim",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "portal.urls_public"
ROOT_URLCONF = "portal.urls_tenant"
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False  # an unknown host is a 404, never the public site
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
# Issue `SET search_path` only when the schema changes, not before every query: the backend forgets
# the path it set on set_tenant(), rollback and reconnect, so it is re-set exactly when needed.
TENANT_LIMIT_SET_CALLS = True
# migrate_tenants: how many lagging tenant schemas migrate at once (one process each).
PORTICO_MIGRATE_PROCESSES: int = env.int("PORTICO_MIGRATE_PROCESSES", default=os.cpu_count() or 2)

MIDDLEWARE = [
    "portal.middleware.WwwRedirectMiddleware",  # before tenant routing, which would strip the www.
    # Everything below is per tenant. Cached host lookup (tenants.routing).
    "tenants.middleware.CachedTenantMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files from the app server itself
    "django.contrib.sessions.middleware.SessionMiddleware",
    "tenants.gate.TenantStatusGateMiddleware",  # a suspended tenant: one page, sessions ended
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): the admin's second factor
    "djangosaml2.middleware.SamlSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "provisioning.middleware.WaitingRoomMiddleware",
    "portal.ratelimit.RateLimitMiddleware",  # needs request.tenant and the resolved URL name
    "axes.middleware.AxesMiddleware",  # a locked-out admin sign-in becomes the lockout page
    # Last, so its process_exception sees a view's lost database/Redis first (portal.faults).
    "portal.faults.ServiceUnavailableMiddleware",
]

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
                "portal.context_processors.portal",
            ],
            "libraries": {"form_tags": "portal.form_tags"},
        },
    },
]
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

# --- Database ---------------------------------------------------------------------------------
DATABASES = {"default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/portico")}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # a connection lost to a PostgreSQL restart is replaced
# How web processes reach PostgreSQL (docs/deploy.md). django-tenants sets the tenant's search_path
# on the connection once per request, which survives only where a client keeps its server
# connection: "none" or "django" (Django's own psycopg pool) or "pgbouncer-session".
# "pgbouncer-transaction" serves other tenants' rows and is refused at start (portal.checks).
PORTICO_DB_POOLER: str = env("PORTICO_DB_POOLER", default="none").strip().lower()
if PORTICO_DB_POOLER == "django":
    # Django's pool replaces persistent connections (it refuses CONN_MAX_AGE with a pool).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("PORTICO_DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("PORTICO_DB_POOL_MAX_SIZE", default=10),
        "timeout": env.int("PORTICO_DB_POOL_TIMEOUT", default=10),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker and results, rate limits; the SAML replay store apart ----------
REDIS_URL: str = env("REDIS_URL", default="redis://127.0.0.1:6379/0")


def _next_redis_db(url: str) -> str:
    """The same Redis server, the logical database after REDIS_URL's (redis://host:port/N+1)."""
    parts = urlsplit(url)
    number = int(parts.path.lstrip("/") or 0)
    return parts._replace(path=f"/{number + 1}").geturl()


# Its own connection and logical database, so cache.clear(), FLUSHDB on the cache or an eviction
# policy meant for the cache never drop a replay record; it needs maxmemory-policy noeviction
# (checked at start, portal.checks). PostgreSQL keeps a durable copy of every record (sso.replay).
PORTICO_REPLAY_REDIS_URL: str = env("PORTICO_REPLAY_REDIS_URL", default=_next_redis_db(REDIS_URL))
# Short timeouts and a health check, so a Redis restart costs the requests in flight, not the process.
_REDIS_CLIENT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2, "health_check_interval": 30,
                         "retry_on_timeout": True}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "portico",
        "OPTIONS": _REDIS_CLIENT_OPTIONS,
        # Tenant-aware keys so one tenant's cache entries never answer for another.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
    },
    # Host → tenant routing (tenants.routing) is read before any tenant is known, so its keys must
    # not depend on whichever schema the connection was left in: plain keys, same Redis.
    "routing": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "portico-routing",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    },
}

CELERY_BROKER_URL: str = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND: str = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ACKS_LATE = True  # a task lost with its worker runs again; tasks are idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER: bool = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Timeouts so a web request that queues a task while Redis is down gives up in seconds (the e-mail
# stays in the outbox for the sweeper) and a worker notices a dead connection and reconnects.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_timeout": 5, "socket_connect_timeout": 2,
                                   "health_check_interval": 10, "retry_on_timeout": True}
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # a worker waits for the broker for as long as it takes
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_REDIS_SOCKET_TIMEOUT = 5
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
CELERY_REDIS_RETRY_ON_TIMEOUT = True
CELERY_REDIS_BACKEND_HEALTH_CHECK_INTERVAL = 10
CELERY_RESULT_EXPIRES = timedelta(hours=6)
# The tests set a queue per run (conftest.py), so parallel runs on one Redis never take each other's tasks.
CELERY_TASK_DEFAULT_QUEUE: str = env("CELERY_TASK_DEFAULT_QUEUE", default="portico")

# --- Authentication and sessions -------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out admin sign-in before any password is checked (django-axes).
    "axes.backends.AxesStandaloneBackend",
    "sso.backends.SsoIdentityBackend",
    "django.contrib.auth.backends.ModelBackend",  # support staff in Django admin
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
# Sessions read from Redis, written through to the tenant's database table (survives a Redis
# flush); the tenant-aware cache keys above keep one tenant's sessions apart from another's.
SESSION_ENGINE = "portal.sessions"  # cached_db that keeps working from PostgreSQL while Redis is down
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
# Support staff's sign-in to Django admin (public host). django-axes counts failed password
# sign-ins in PostgreSQL and locks out a client IP, and separately a username, after
# PORTICO_ADMIN_LOCKOUT_FAILURES failures for PORTICO_ADMIN_LOCKOUT_MINUTES (`manage.py
# axes_reset_username NAME` lifts one early). Only the admin's sign-in counts (portal.axes_handler):
# tenant users sign in through their IdP and never through a password.
AXES_FAILURE_LIMIT: int = env.int("PORTICO_ADMIN_LOCKOUT_FAILURES", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("PORTICO_ADMIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_ONLY_ADMIN_SITE = True
AXES_HANDLER = "portal.axes_handler.AdminOnlyAxesHandler"
AXES_CLIENT_IP_CALLABLE = "portal.ratelimit.client_ip"  # PORTICO_CLIENT_IP_HEADER behind a balancer
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_VERBOSE = False
# Then a second factor (django-otp TOTP): staff enrol an authenticator app at their first sign-in
# and enter its code at every sign-in (portal.admin_site); `manage.py staff_totp_reset` starts over.
OTP_TOTP_ISSUER = "Portico support"
# X-Forwarded-Proto is believed only when a proxy in front sets it (and strips it from clients);
# otherwise any client could claim https.
PORTICO_BEHIND_PROXY: bool = env.bool("PORTICO_BEHIND_PROXY", default=False)
if PORTICO_BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS and not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS and not DEBUG else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS and not DEBUG
SECURE_HSTS_PRELOAD: bool = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS and not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # metadata uploads and SAML posts are small
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- SAML (djangosaml2 speaks the protocol; Portico supplies each tenant's config) -------------
SAML_CONFIG_LOADER = "sso.conf.saml_config_for_request"
SAML_SESSION_COOKIE_NAME = "saml_session"
# The IdP's POST to the ACS is cross-site, so Lax cookies are not sent with it; the ACS bounces
# the POST once through the browser as a same-site POST instead of weakening every cookie
# to SameSite=None (djangosaml2 issue #408).
SAML_SESSION_COOKIE_SAMESITE = "Lax"
SAML_CSP_HANDLER = ""  # pages set their own headers; djangosaml2's django-csp hook is not used
SAML_DEFAULT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
SAML_XMLSEC_BINARY: str = env("SAML_XMLSEC_BINARY", default="/usr/bin/xmlsec1")
# /healthz shows each component's error text only to a caller sending this in X-Portico-Health-Token
# (or to an unproxied loopback peer); everyone else sees up/down.
PORTICO_HEALTH_TOKEN: str = env("PORTICO_HEALTH_TOKEN", default="")
PORTICO_SAML_CLOCK_SKEW_SECONDS: int = env.int("PORTICO_SAML_CLOCK_SKEW_SECONDS", default=120)
# An assertion valid for longer than this is refused as implausible (Entra issues them for ~1 h);
# it also bounds how long a replay record must be kept.
PORTICO_SAML_MAX_ASSERTION_LIFETIME_SECONDS: int = env.int("PORTICO_SAML_MAX_ASSERTION_LIFETIME_SECONDS",
                                                           default=4 * 3600)
PORTICO_SAML_MAX_RESPONSE_BYTES: int = env.int("PORTICO_SAML_MAX_RESPONSE_BYTES", default=256 * 1024)
PORTICO_SAML_REQUEST_TTL_SECONDS: int = env.int("PORTICO_SAML_REQUEST_TTL_SECONDS", default=600)
# Fetching metadata from private/loopback addresses is an SSRF vector; only development needs it.
PORTICO_METADATA_ALLOW_PRIVATE: bool = env.bool("PORTICO_METADATA_ALLOW_PRIVATE", default=DEBUG)
PORTICO_METADATA_REFRESH_HOURS: int = env.int("PORTICO_METADATA_REFRESH_HOURS", default=24)
# Bounds a metadata download (redirects and body included): an IdP URL that hangs or trickles bytes
# costs a worker (or the admin's request) this long, not forever.
PORTICO_METADATA_FETCH_TIMEOUT_SECONDS: float = env.float("PORTICO_METADATA_FETCH_TIMEOUT_SECONDS", default=10.0)
PORTICO_CERT_EXPIRY_WARNING_DAYS: int = env.int("PORTICO_CERT_EXPIRY_WARNING_DAYS", default=30)
# Each tenant's own SP key pair (sso.sp_keys): its private key is stored Fernet-encrypted under the
# first of these keys (any of them decrypts); unset, a key derived from SECRET_KEY is used.
PORTICO_KEY_ENCRYPTION_KEYS: list[str] = env.list("PORTICO_KEY_ENCRYPTION_KEYS", default=[])
PORTICO_SP_CERT_VALIDITY_DAYS: int = env.int("PORTICO_SP_CERT_VALIDITY_DAYS", default=3 * 365)
PORTICO_SP_KEY_ROTATION_OVERLAP_DAYS: int = env.int("PORTICO_SP_KEY_ROTATION_OVERLAP_DAYS", default=14)
# A new tenant's first Client Administrator signs in once through a set-up link support staff send
# (support.services); it works once, for this long.
PORTICO_SETUP_LINK_HOURS: int = env.int("PORTICO_SETUP_LINK_HOURS", default=72)

# --- Email domain verification (tenants.domain_verification) ----------------------------------
# Resolvers asked for a tenant's _portico.<domain> TXT record: "ip:port,..." ("[::1]:53" for IPv6);
# empty: the system's. The tests point it at a DNS server of their own.
PORTICO_DNS_RESOLVERS: str = env("PORTICO_DNS_RESOLVERS", default="")

# --- Directory sync (SCIM) -----------------------------------------------------------------
# Per bearer token, counted in Redis across workers; Entra's provisioning service backs off on 429.
PORTICO_SCIM_RATE_LIMIT: str = env("PORTICO_SCIM_RATE_LIMIT", default="1200/minute")
PORTICO_SCIM_MAX_BODY_BYTES: int = env.int("PORTICO_SCIM_MAX_BODY_BYTES", default=1024 * 1024)

# --- Rate limits (portal.ratelimit; the `limits` library on Redis) -----------------------------
# "N/second|minute|hour" per client IP and per tenant. The defaults let a load test of hundreds of
# sign-ins per second per tenant through while stopping one client hammering a form. A refused
# sign-in costs PORTICO_RATELIMIT_ACS_FAILURE_COST hits. With the limiter's Redis down the limits
# are not enforced (fail open) and a warning is logged; replay protection never fails open.
# The suite's clients all come from 127.0.0.1, so tests switch limits on where they are the point.
PORTICO_RATELIMIT_ENABLED: bool = env.bool("PORTICO_RATELIMIT_ENABLED", default=True)
# Behind a load balancer REMOTE_ADDR is the balancer: name the header it appends the client to
# (e.g. HTTP_X_FORWARDED_FOR; its last entry is used). Empty: REMOTE_ADDR.
PORTICO_CLIENT_IP_HEADER: str = env("PORTICO_CLIENT_IP_HEADER", default="")
PORTICO_RATELIMIT_REDIS_URL: str = env("PORTICO_RATELIMIT_REDIS_URL", default=REDIS_URL)
PORTICO_RATELIMITS: dict[str, dict[str, str]] = {
    "discovery": {"ip": env("PORTICO_RATELIMIT_DISCOVERY_IP", default="60/minute"),
                  "tenant": env("PORTICO_RATELIMIT_DISCOVERY_TENANT", default="1000/second")},
    "acs": {"ip": env("PORTICO_RATELIMIT_ACS_IP", default="120/minute"),
            "tenant": env("PORTICO_RATELIMIT_ACS_TENANT", default="1000/second")},
    "setup_link": {"ip": env("PORTICO_RATELIMIT_SETUP_LINK_IP", default="10/minute"),
                   "tenant": env("PORTICO_RATELIMIT_SETUP_LINK_TENANT", default="60/minute")},
    "new_user_request": {"ip": env("PORTICO_RATELIMIT_NEW_USER_IP", default="30/minute"),
                         "tenant": env("PORTICO_RATELIMIT_NEW_USER_TENANT", default="600/minute")},
    "team_write": {"ip": env("PORTICO_RATELIMIT_TEAM_WRITE_IP", default="60/minute"),
                   "tenant": env("PORTICO_RATELIMIT_TEAM_WRITE_TENANT", default="600/minute")},
}
PORTICO_RATELIMIT_ACS_FAILURE_COST: int = env.int("PORTICO_RATELIMIT_ACS_FAILURE_COST", default=5)
# Refused ACS posts of one client IP beyond this many per hour are logged without the response body
# (SignInAttempt.response_xml empty, body_dropped set): a flood cannot fill the database.
PORTICO_ACS_REFUSED_BODY_BUDGET: int = env.int("PORTICO_ACS_REFUSED_BODY_BUDGET", default=20)

# --- Scheduled work (Celery beat) ------------------------------------------------------------
_PUBLIC = {"headers": {"_schema_name": "public"}}  # these tasks work on public-schema rows
CELERY_BEAT_SCHEDULE: dict = {
    # Fans out one refresh per URL-sourced IdP; a failed fetch keeps the last good metadata.
    "sso.refresh_all_metadata": {"task": "sso.refresh_all_metadata", "options": _PUBLIC,
                                 "schedule": timedelta(hours=PORTICO_METADATA_REFRESH_HOURS)},
    "sso.warn_expiring_certificates": {"task": "sso.warn_expiring_certificates", "options": _PUBLIC,
                                       "schedule": timedelta(hours=24)},
    # PostgreSQL records of consumed assertions past their lifetime (sso.replay).
    "sso.purge_consumed_assertions": {"task": "sso.purge_consumed_assertions", "options": _PUBLIC,
                                      "schedule": timedelta(hours=1)},
    # Looks up the DNS TXT record of every pending email domain claim, one task per claim.
    "tenants.email_domains_verify_pending": {"task": "tenants.email_domains_verify_pending", "options": _PUBLIC,
                                             "schedule": timedelta(minutes=10)},
    # Re-queues e-mails whose task was lost to a broker outage (idempotent sending).
    "outbox.email_sweep": {"task": "outbox.email_sweep", "options": _PUBLIC,
                           "schedule": timedelta(minutes=5)},
}

# --- E-mail -----------------------------------------------------------------------------------
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND: str = _email["EMAIL_BACKEND"]
EMAIL_HOST: str = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT: int = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER: str = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD: str = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS: bool = bool(_email.get("EMAIL_USE_TLS", False))
EMAIL_USE_SSL: bool = bool(_email.get("EMAIL_USE_SSL", False))
if _email.get("EMAIL_FILE_PATH"):
    EMAIL_FILE_PATH: str = _email["EMAIL_FILE_PATH"]
DEFAULT_FROM_EMAIL: str = env("DEFAULT_FROM_EMAIL", default="Portico <no-reply@portico.localhost>")
PORTICO_SUPPORT_EMAILS: list[str] = env.list("PORTICO_SUPPORT_EMAILS", default=["support@portico.localhost"])
EMAIL_TIMEOUT = 10

# --- Static files, i18n -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / ".devdata" / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Without collectstatic (development, tests) WhiteNoise serves straight from the apps' folders.
WHITENOISE_USE_FINDERS: bool = env.bool("PORTICO_STATIC_FROM_APPS", default=DEBUG)
STATICFILES_DIRS = [BASE_DIR / "static"]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Our own date formats win over the locale's, in templates and in Django admin alike.
FORMAT_MODULE_PATH = ["portal.formats"]

# --- Logging: every rejected sign-in is logged with the reference code shown to the user --------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "saml2": {"level": "WARNING"},
        "djangosaml2": {"level": "WARNING"},
        "xmlschema": {"level": "WARNING"},
    },
}
