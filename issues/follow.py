"""Following an issue by its number and the phone it was reported with (/follow/): the check, its limits, the grant.

Anyone may try a pair, so the check says nothing about whether a number exists: a wrong number and a wrong phone
take the same path (one read by number, one constant-time comparison) and get the same answer. Wrong pairs are
counted per client address and per number in the default cache (shared Redis in production); after
FOLLOW_WRONG_LIMIT of them within FOLLOW_WINDOW seconds, that address or number is locked for the rest of the
window. Every attempt of an address counts towards FOLLOW_ATTEMPTS_LIMIT too (a plain throttle).

A right pair grants access to that issue only: a signed entry (issue id and phone) in the visitor's session,
valid for FOLLOW_GRANT_SECONDS.
"""

from django.core import signing
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from issues.arguments import phones_match
from issues.models import Issue

FOLLOW_WINDOW = 15 * 60
FOLLOW_WRONG_LIMIT = 5
FOLLOW_ATTEMPTS_LIMIT = 30
FOLLOW_GRANT_SECONDS = 2 * 3600
SESSION_KEY = "griddesk_follow"
_SALT = "griddesk.follow.grant"
GRANTS_KEPT = 5


class FollowRefused(Exception):
    """No issue has this number and phone (never says which part is wrong)."""


class FollowLocked(Exception):
    """Too many wrong pairs from this address or for this number: try again after the window."""


def client_address(request) -> str:
    """Return the client's address as the API's throttles count it (trusting NUM_PROXIES proxies)."""
    return BaseThrottle().get_ident(request)


def _normal_number(number: str) -> str:
    return (number or "").strip().upper()[:40]


def _keys(*, number: str, address: str) -> list[str]:
    return [f"follow:wrong:address:{address}", f"follow:wrong:number:{_normal_number(number)}"]


def _count(key: str) -> int:
    return cache.get(key, 0)


def _bump(key: str) -> None:
    cache.add(key, 0, FOLLOW_WINDOW)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, FOLLOW_WINDOW)


def follow_check(*, number: str, phone: str, address: str) -> Issue:
    """Return the issue of this number reported with this phone; else FollowRefused (FollowLocked over the limits)."""
    attempts = f"follow:attempts:{address}"
    if any(_count(k) >= FOLLOW_WRONG_LIMIT for k in _keys(number=number, address=address)) or (
        _count(attempts) >= FOLLOW_ATTEMPTS_LIMIT
    ):
        raise FollowLocked()
    _bump(attempts)
    issue = Issue.objects.only("pk", "number", "reporter_phone").filter(number=_normal_number(number)).first()
    # The same comparison whether or not the number exists: an empty stored phone never matches.
    if not phones_match(issue.reporter_phone if issue else "", phone) or issue is None:
        for key in _keys(number=number, address=address):
            _bump(key)
        raise FollowRefused()
    return issue


def follow_grant(session, *, issue: Issue, phone: str) -> None:
    """Let this session follow `issue` (and rate it as its reporter) for FOLLOW_GRANT_SECONDS."""
    grants = dict(session.get(SESSION_KEY, {}))
    grants[str(issue.pk)] = signing.dumps({"issue": str(issue.pk), "phone": phone}, salt=_SALT)
    session[SESSION_KEY] = dict(list(grants.items())[-GRANTS_KEPT:])


def follow_granted(session, *, issue_id) -> str | None:
    """Return the phone this session proved for issue `issue_id`, or None when it holds no valid grant for it."""
    token = session.get(SESSION_KEY, {}).get(str(issue_id))
    if not token:
        return None
    try:
        grant = signing.loads(token, salt=_SALT, max_age=FOLLOW_GRANT_SECONDS)
    except signing.BadSignature:
        return None
    return grant["phone"] if grant.get("issue") == str(issue_id) else None
