"""django-axes, scoped to support staff's sign-in to Django admin (public host).

Axes listens to every sign-in signal; tenant users sign in through their IdP (sso/, which never
calls django.contrib.auth.authenticate) and set-up links, so only requests under the admin's URL
may count as attempts, or a tenant host's traffic would fill the public schema's tables.
"""
from __future__ import annotations

from axes.handlers.database import AxesDatabaseHandler


class AdminOnlyAxesHandler(AxesDatabaseHandler):
    def _counts(self, request) -> bool:
        return request is not None and self.is_admin_request(request)

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        if self._counts(request):
            return super().user_login_failed(sender, credentials, request, **kwargs)
        return None

    def user_logged_in(self, sender, request, user, **kwargs):
        if self._counts(request):
            return super().user_logged_in(sender, request, user, **kwargs)
        return None

    def user_logged_out(self, sender, request, user, **kwargs):
        if self._counts(request):
            return super().user_logged_out(sender, request, user, **kwargs)
        return None
