"""Who is calling: personal tokens, partner app keys, browser sessions (API.md "Authentication").

- `Authorization: Token <token>`: rest_framework.authtoken, obtained at POST /api/v1/auth/token/.
- `Authorization: Api-Key <key>`: a partner app (orgs.models.ApiKey); the request acts as the app's service user.
- The Django session, with CSRF enforced (DRF's SessionAuthentication).

A key in the query string (`?api_key=…`, `?key=…`) is refused with 401 `not_authenticated`: URLs end up in
logs, proxies and browser history, so a key sent there must be treated as leaked, never as a way in.
Failed logins on the token endpoint count in django-axes like any other login; a locked-out username
answers 429 `throttled` with `Retry-After` (the cool-off), see `axes_lockout_response`.
"""

from datetime import timedelta
from http import HTTPStatus

from axes.helpers import get_cool_off, get_lockout_message
from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_noop
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from config.api import throttling
from config.api.exceptions import error_response, is_api_path
from orgs import auth_cache
from orgs.models import ApiKey, _hash_key
from orgs.scoping import scope_given

# Query-string names under which clients (and Open311 habits) put keys; refused under /api/.
QUERY_KEY_NAMES = ("api_key", "apikey", "key")
# Write last_used_at at most this often per key: every request would turn reads into writes.
LAST_USED_RESOLUTION = timedelta(minutes=5)


class QueryStringKeyRefused(exceptions.AuthenticationFailed):
    default_detail = gettext_noop(
        "Send credentials in the Authorization header, never in the URL; treat this key as leaked."
    )


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticate a partner app by `Authorization: Api-Key <key>`; return (its service user, its ApiKey)."""

    keyword = "Api-Key"

    def authenticate(self, request):
        refuse_key_in_url(request)
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(gettext_noop("Invalid Api-Key header: send `Api-Key <key>`."))
        try:
            raw = parts[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed(gettext_noop("Invalid Api-Key header.")) from exc
        cache_key = auth_cache.api_key_key(_hash_key(raw))
        remembered = auth_cache.remembered(cache_key)
        if isinstance(remembered, dict) and "key" in remembered:
            key = auth_cache.api_key_from(remembered)
        else:
            key = ApiKey.find(raw)
            if key is None:
                raise exceptions.AuthenticationFailed(gettext_noop("Unknown or revoked API key."))
            auth_cache.remember(cache_key, auth_cache.api_key_values(key))
        user = key.partner.user
        if not user.is_active:
            raise exceptions.AuthenticationFailed(gettext_noop("This partner app's user is inactive."))
        if api_key_touch(key=key):
            auth_cache.remember(cache_key, auth_cache.api_key_values(key))
        return user, key

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


def refuse_key_in_url(request) -> None:
    """Refuse an API request that carries a key in its query string (Open311 keeps its own rules)."""
    if is_api_path(request.path) and any(name in request.query_params for name in QUERY_KEY_NAMES):
        raise QueryStringKeyRefused()


def api_key_touch(*, key: ApiKey) -> bool:
    """Record that `key` was used, at most once per LAST_USED_RESOLUTION (one conditional UPDATE, no read).

    Return whether it was recorded now.
    """
    now = timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return False
    ApiKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION), pk=key.pk
    ).update(last_used_at=now)
    key.last_used_at = now
    return True


def token_expired(token) -> bool:
    """Return whether a personal token is past its lifetime (GRIDDESK_TOKEN_TTL_HOURS after it was issued)."""
    return timezone.now() - token.created > timedelta(hours=settings.GRIDDESK_TOKEN_TTL_HOURS)


class TokenAuthentication(authentication.TokenAuthentication):
    """Authenticate a person by `Authorization: Token <token>` (refusing keys sent in the URL, like Api-Key).

    A token lives GRIDDESK_TOKEN_TTL_HOURS; a password change deletes it (orgs.signals). Its user is remembered
    between requests without secrets (orgs.auth_cache), forgotten when the token is deleted or the user saved.
    """

    def authenticate(self, request):
        refuse_key_in_url(request)
        self.request = request
        return super().authenticate(request)

    def authenticate_credentials(self, key):
        request = getattr(self, "request", None)
        view = request.parser_context.get("view") if request is not None and request.parser_context else None
        # The call counted by its throttle in the round trip that reads the token (config.api.throttling).
        counter = throttling.counter_ahead(view) if view is not None else None
        remembered, scope, counted = auth_cache.remembered_token(key, counter=counter)
        if counted is not None:
            throttling.counted_ahead(request, *counted)
        if isinstance(remembered, dict) and "user" in remembered:
            user = auth_cache.user_from(remembered["user"])
            token = Token(key=key, user=user, created=remembered["created"])
            if scope is not None:
                scope_given(user, scope)
        else:
            user, token = super().authenticate_credentials(key)
            remembered = {"user": auth_cache.user_values(user), "created": token.created}
            auth_cache.remember(auth_cache.token_key(key), remembered)
        auth_cache.token_user_seen(key, user.pk)
        if token_expired(token):
            raise exceptions.AuthenticationFailed(gettext_noop("This token has expired; obtain a new one."))
        return user, token

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


def axes_lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """Answer a locked-out login: 429 `throttled` with Retry-After under /api/, axes' usual answer elsewhere."""
    cool_off = get_cool_off(request)
    if is_api_path(request.path):
        response = error_response(
            HTTPStatus.TOO_MANY_REQUESTS,
            "throttled",
            gettext_noop("Too many failed logins for this account; try again later."),
        )
        if cool_off:
            response["Retry-After"] = str(int(cool_off.total_seconds()))
        return response
    status = settings.AXES_HTTP_RESPONSE_CODE
    if settings.AXES_LOCKOUT_TEMPLATE:
        return render(request, settings.AXES_LOCKOUT_TEMPLATE, {"cooloff_timedelta": cool_off}, status=status)
    return HttpResponse(get_lockout_message(), status=status)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Describe `Authorization: Api-Key <key>` in the OpenAPI schema."""

    target_class = ApiKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Partner apps: `Api-Key <key>`.",
        }
