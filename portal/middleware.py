"""Request-wide security edges that belong to no feature: the www redirect and the response headers."""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect

# No inline script anywhere (the ACS bounce and portico.js are static files), so script-src needs
# nothing but 'self'. Inline style attributes remain in Django admin's and a few of Portico's
# templates; styles cannot run code, so 'unsafe-inline' there is the accepted trade.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
])


class WwwRedirectMiddleware:
    """www.<host> is not a second name for a tenant (it would get an entity ID of its own): send the
    browser to the bare host. Runs before tenant routing, which would otherwise strip the www."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        host = request.get_host()
        if host.lower().startswith("www."):
            response = HttpResponsePermanentRedirect(f"{request.scheme}://{host[4:]}{request.get_full_path()}")
            if request.method not in ("GET", "HEAD"):
                response.status_code = 308  # keep the method and body
            return response
        return self.get_response(request)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
