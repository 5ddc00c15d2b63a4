"""Public list of departments, and the personal token endpoint (API.md "Authentication")."""

import math
from http import HTTPStatus

from axes.helpers import get_cool_off
from django.contrib.auth import authenticate
from django.utils.translation import gettext_noop
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.authentication import token_expired
from config.api.exceptions import ErrorResponseSerializer
from config.api.throttling import caller_kind
from config.errors import Message, Throttled, ValidationFailed
from orgs.api.serializers import CallerSerializer, DepartmentSerializer, TokenRequestSerializer, TokenSerializer
from orgs.models import Department


class DepartmentViewSet(viewsets.ReadOnlyModelViewSet):
    """List the active departments (public)."""

    permission_classes = [AllowAny]
    serializer_class = DepartmentSerializer
    lookup_field = "code"
    pagination_class = None
    filter_backends: list = []
    queryset = Department.objects.filter(is_active=True).order_by("code")


class TokenView(APIView):
    """Exchange a username and password for the user's personal token (POST), or revoke it (DELETE).

    Failed attempts count in django-axes like any other login.
    """

    def _obtaining(self) -> bool:
        # The schema generator asks before a request exists: describe the view with its defaults then.
        return getattr(getattr(self, "request", None), "method", None) == "POST"

    def get_authenticators(self):
        # POST carries the credentials in its body: a browser session or a stale token must not get in the way.
        return [] if self._obtaining() else super().get_authenticators()

    def get_permissions(self):
        return [AllowAny()] if self._obtaining() else super().get_permissions()

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, 400: ErrorResponseSerializer, 429: ErrorResponseSerializer},
        summary="Obtain a personal API token",
        description="Wrong credentials: 400 `validation_error`. A username locked out after "
        "AXES_FAILURE_LIMIT failed logins: 429 `throttled` with `Retry-After` (the cool-off).",
    )
    def post(self, request: Request) -> Response:
        credentials = TokenRequestSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        # axes needs Django's own request: it reads the client address and flags a lockout on it.
        user = authenticate(request._request, **credentials.validated_data)
        if getattr(request._request, "axes_locked_out", False):
            cool_off = get_cool_off(request._request)
            wait = math.ceil(cool_off.total_seconds()) if cool_off else None
            message = gettext_noop("Too many failed logins for this account; try again later.")
            if wait is not None:
                message = Message(
                    gettext_noop("Too many failed logins for this account; try again in %(seconds)s s."), seconds=wait
                )
            raise Throttled(message, retry_after=wait)
        if user is None:
            raise ValidationFailed.on(
                "non_field_errors", gettext_noop("Unable to log in with the provided credentials.")
            )
        token, _ = Token.objects.get_or_create(user=user)
        if token_expired(token):  # logging in again after the lifetime issues a new token
            token.delete()
            token = Token.objects.create(user=user)
        return Response({"token": token.key}, status=HTTPStatus.OK)

    @extend_schema(request=None, responses={204: None}, summary="Revoke your personal API token")
    def delete(self, request: Request) -> Response:
        Token.objects.filter(user=request.user).delete()
        return Response(status=HTTPStatus.NO_CONTENT)


class CallerView(APIView):
    """Say who the API takes the caller to be."""

    @extend_schema(responses=CallerSerializer, summary="Who am I (person or partner app)")
    def get(self, request: Request) -> Response:
        partner = getattr(request.user, "partner_app", None) if hasattr(request.user, "partner_app") else None
        body = {
            "username": request.user.get_username(),
            "kind": caller_kind(request),
            "partner": partner and partner.slug,
        }
        return Response(CallerSerializer(body).data)
