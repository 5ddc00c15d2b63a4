"""The site header of every page (base.html), rendered once for what it shows and remembered in the process.

The header is a few dozen tags (links, the language buttons, two forms): on a signed-in page it cost as much as a
query. Its key is a digest of every value includes/site_header.html reads: the language, who is signed in and the
names shown, what their memberships open, the unread count, the page's path (the language form's `next`). The CSRF
token is rendered as a stand-in and put back for the request, as the desk rows do (issues.desk_views).
"""

from django import template
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from config.fragments import LocalFragments, digest

register = template.Library()

TEMPLATE = "includes/site_header.html"
# Never a valid token (it has spaces): replaced by the request's token in the remembered header.
CSRF_STAND_IN = "csrf token stand-in"
_headers = LocalFragments(size=2000, seconds=300)


@register.simple_tag(takes_context=True)
def site_header(context) -> str:
    """Render includes/site_header.html with `context`, or return it as remembered for the same values."""
    token = str(context.get("csrf_token") or "")
    if not token or token == "NOTPROVIDED" or CSRF_STAND_IN in token:
        return _render(context)
    user, request = context.get("user"), context.get("request")
    signed_in = bool(user is not None and user.is_authenticated)
    shown = None
    if signed_in:
        memberships = context.get("my_memberships") or {}
        shown = (
            user.pk,
            user.get_full_name(),
            user.get_username(),
            tuple(memberships.get("roles", ())),
            tuple(bool(memberships.get(k)) for k in ("desk", "hotline", "territory", "meetings")),
            str(context.get("unread_count")),
        )
    key = digest((get_language(), context.get("LANGUAGE_CODE"), signed_in, shown, request and request.get_full_path()))
    html = _headers.get(key)
    if html is None:
        with context.push(csrf_token=CSRF_STAND_IN):
            html = _render(context)
        _headers.set(key, html)
    return mark_safe(html.replace(CSRF_STAND_IN, token))  # noqa: S308 — rendered by the template, which escapes


def _render(context) -> str:
    return context.template.engine.get_template(TEMPLATE).render(context)
