import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()

# gunicorn runs no system checks: refuse unsafe pooling and warn about an evicting replay store here.
from portal.checks import startup_checks  # noqa: E402

startup_checks()
