"""Portico settings: one module, driven by the environment, with defaults that run locally.

Production differs only by environment (DEBUG off, SECRET_KEY, PORTICO_BASE_URL with https) and
passes `manage.py check --deploy`.
"""
from __future__ import annotations

import os
import sys
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
# pytest-django imports settings before any conftest can set the environment, hence the module check.
TESTING: bool = env.bool("PORTICO_TESTING", default="pytest_django" in sys.modules)
_INSECURE_DEV_KEY = "portico-insecure-development-key-do-not-use-in-production"
# A missing SECRET_KEY is only tolerated where nothing real is at stake.
SECRET_KEY: str = env("SECRET_KEY", default=_INSECURE_DEV_KEY if (DEBUG or TESTING) else None) or ""
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
    "sso",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "djangosaml2",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "provisioning",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "portal.urls_public"
ROOT_URLCONF = "portal.urls_tenant"
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False  # an unknown host is a 404, never the public site
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)

MIDDLEWARE = [
    "portal.middleware.WwwRedirectMiddleware",  # before tenant routing, which would strip the www.
    "django_tenants.middleware.main.TenantMainMiddleware",  # everything below is per tenant
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files from the app server itself
    "django.contrib.sessions.middleware.SessionMiddleware",
    "tenants.gate.TenantStatusGateMiddleware",  # a suspended tenant: one page, sessions ended
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "djangosaml2.middleware.SamlSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "provisioning.middleware.WaitingRoomMiddleware",
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
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker and results, SAML replay store --------------------------------
REDIS_URL: str = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "portico",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        # Tenant-aware keys so one tenant's cache entries never answer for another.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
    }
}

CELERY_BROKER_URL: str = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND: str = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ACKS_LATE = True  # a task lost with its worker runs again; tasks are idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER: bool = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Each test run gets a queue of its own so parallel runs on one Redis never take each other's tasks.
CELERY_TASK_DEFAULT_QUEUE: str = env(
    "CELERY_TASK_DEFAULT_QUEUE", default=f"portico-test-{os.getpid()}" if TESTING else "portico"
)

# --- Authentication and sessions -------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "sso.backends.SsoIdentityBackend",
    "django.contrib.auth.backends.ModelBackend",  # support staff in Django admin
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
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
SAML_IGNORE_LOGOUT_ERRORS = True
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
PORTICO_CERT_EXPIRY_WARNING_DAYS: int = env.int("PORTICO_CERT_EXPIRY_WARNING_DAYS", default=30)
# A new tenant's first Client Administrator signs in once through a set-up link support staff send
# (provisioning.onboarding); it works once, for this long.
PORTICO_SETUP_LINK_HOURS: int = env.int("PORTICO_SETUP_LINK_HOURS", default=72)

# --- Scheduled work (Celery beat) ------------------------------------------------------------
_PUBLIC = {"headers": {"_schema_name": "public"}}  # these tasks work on public-schema rows
CELERY_BEAT_SCHEDULE: dict = {
    # Fans out one refresh per URL-sourced IdP; a failed fetch keeps the last good metadata.
    "sso.refresh_all_metadata": {"task": "sso.refresh_all_metadata", "options": _PUBLIC,
                                 "schedule": timedelta(hours=PORTICO_METADATA_REFRESH_HOURS)},
    "sso.warn_expiring_certificates": {"task": "sso.warn_expiring_certificates", "options": _PUBLIC,
                                       "schedule": timedelta(hours=24)},
    # Re-queues e-mails whose task was lost to a broker outage (idempotent sending).
    "provisioning.email_sweep": {"task": "provisioning.email_sweep", "options": _PUBLIC,
                                 "schedule": timedelta(minutes=5)},
}

# --- E-mail -----------------------------------------------------------------------------------
_email = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(_email)
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
WHITENOISE_USE_FINDERS = DEBUG or TESTING
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
