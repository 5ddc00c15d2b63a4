"""The one trusted-proxy rule: which address a request comes from, for login lockouts and throttles alike.

`X-Forwarded-For` is believed only hop by hop from a proxy we trust (GRIDDESK_TRUSTED_PROXIES, addresses or
networks): walking the header from the right, the first address that is not a trusted proxy is the client. A
client talking to the app directly (not through a trusted proxy) cannot dodge per-address limits by inventing
the header, and behind the documented TLS proxy axes no longer locks everyone out by the proxy's address.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(settings.GRIDDESK_TRUSTED_PROXIES)))


def client_ip(request) -> str:
    """Return the address of the client behind `request` (a Django HttpRequest or a DRF Request)."""
    meta = request.META
    remote = meta.get("REMOTE_ADDR", "") or ""
    if not _trusted(remote):
        return remote
    hops = [hop.strip() for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote  # a garbled header from a trusted proxy: count by the proxy, not by the garbage
    return hops[0] if hops else remote


def axes_client_ip(request) -> str:
    """django-axes' AXES_CLIENT_IP_CALLABLE: the same rule as the throttles."""
    return client_ip(request)
