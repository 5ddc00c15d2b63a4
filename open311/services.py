"""Writes for Open311: a POSTed service request becomes an issue through issues.workflow.issue_submit.

GeoReport v2 fields and where they go: lat/long → the location (routed to its grid), address_id → the building
(its code), address_string → the address, description → the description (with the service attributes appended,
since an issue keeps no separate attribute fields), first_name/last_name → the reporter's name, phone → the
reporter's phone. Not kept: email (the issue has no email field), device_id and account_id, media_url (we never
fetch URLs a client hands us; photos go through the REST API).
"""

import re

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_noop

from config.errors import Message, ValidationFailed
from issues.models import Category, Issue
from issues.workflow import issue_submit
from open311.serializers import service_attributes

_ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\]]+)\](\[\])?$")
_CJK = re.compile(r"[\u3400-\u9fff]")
# Our argument names, as GeoReport v2 calls them in the POST, for the errors a client reads.
OPEN311_FIELDS = {
    "description": "description",
    "reporter_phone": "phone",
    "reporter_name": "first_name",
    "location": "lat/long",
    "building": "address_id",
    "grid": "address_id",
    "category": "service_code",
    "address": "address_string",
    "kind": "service_code",
}


def param_text(params, name: str) -> str:
    """Return the field `name` as stripped text ("" when absent); a JSON number counts as its text, a structure not.

    A form POST carries only strings; a JSON body may carry numbers (`"lat": 25.8`), which read as a client means
    them, and lists, objects or booleans, which no GeoReport field takes.
    """
    value = params.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationFailed.on(name, Message(gettext_noop("%(field)s must be text or a number."), field=name))
    return str(value).strip()


def _reporter_name(first: str, last: str) -> str:
    """Return the full name: Chinese names family name first and unspaced (刘 + 德华 → 刘德华)."""
    first, last = first.strip(), last.strip()
    if _CJK.search(first + last):
        return f"{last}{first}"
    return f"{first} {last}".strip()


def _posted_attributes(params) -> dict[str, list[str]]:
    """Return {code: [values]} from attribute[code]=… and attribute[code][]=… fields."""
    posted: dict[str, list[str]] = {}
    for key in params:
        match = _ATTRIBUTE_KEY.match(key)
        if not match:
            continue
        values = params.getlist(key) if hasattr(params, "getlist") else [params[key]]
        values = [str(v).strip() for v in (values if isinstance(values, list) else [values]) if str(v).strip()]
        if values:
            posted.setdefault(match.group(1), []).extend(values)
    return posted


def _attribute_lines(category: Category, posted: dict[str, list[str]]) -> list[str]:
    """Check the posted attributes against the service definition; return them as lines for the description."""
    errors: list[str] = []
    lines: list[str] = []
    for attribute in service_attributes(category):
        if not attribute["variable"]:
            continue
        code, datatype = attribute["code"], attribute["datatype"]
        field = f"attribute[{code}]"
        values = posted.get(code, [])
        if not values:
            if attribute["required"]:
                errors.append(Message(gettext_noop("%(field)s is required."), field=field))
            continue
        names = {v["key"]: v["name"] for v in attribute["values"]}
        if datatype in ("singlevaluelist", "multivaluelist"):
            if datatype == "singlevaluelist" and len(values) > 1:
                errors.append(Message(gettext_noop("%(field)s takes one value."), field=field))
            bad = [v for v in values if v not in names]
            if bad:
                errors.append(
                    Message(
                        gettext_noop("%(field)s: %(values)s is not one of %(choices)s."),
                        field=field,
                        values=", ".join(bad),
                        choices=", ".join(names),
                    )
                )
                continue
            shown = "、".join(names[v] for v in values)
        elif datatype == "number":
            try:
                float(values[0])
            except ValueError:
                errors.append(Message(gettext_noop("%(field)s must be a number."), field=field))
                continue
            shown = values[0]
        elif datatype == "datetime":
            if parse_datetime(values[0]) is None:
                errors.append(Message(gettext_noop("%(field)s must be a W3C date-time."), field=field))
                continue
            shown = values[0]
        else:
            shown = values[0]
        lines.append(f"{attribute['description'] or code}: {shown}")
    if errors:
        raise ValidationFailed(gettext_noop("Some service attributes are invalid."), fields={"attribute": errors})
    return lines


def _number(params, name: str):
    return param_text(params, name) or None


def service_request_create(*, actor, params) -> Issue:
    """Submit the GeoReport v2 POST `params` as an issue reported by `actor` (a partner app's user).

    Refusals are ValidationFailed whose fields use GeoReport's names (service_code, lat/long, phone, …).
    """
    service_code = param_text(params, "service_code")
    if not service_code:
        raise ValidationFailed.on("service_code", gettext_noop("service_code is required."))
    category = Category.objects.filter(code=service_code, is_active=True).first()
    if category is None:
        raise ValidationFailed.on(
            "service_code", Message(gettext_noop("service_code %(code)s was not found."), code=service_code)
        )
    lines = _attribute_lines(category, _posted_attributes(params))
    description = param_text(params, "description")
    if lines:
        description = "\n\n".join(part for part in [description, "\n".join(lines)] if part)
    lat, lng = _number(params, "lat"), _number(params, "long")
    building = param_text(params, "address_id") or None
    address = param_text(params, "address_string")
    if lat is None and lng is None and building is None and address:
        message = gettext_noop("address_string alone cannot be placed on the map: send lat and long, or address_id.")
        raise ValidationFailed(message, fields={"lat/long": [message]})
    try:
        return issue_submit(
            actor=actor,
            description=description,
            building=building,
            lat=lat,
            lng=lng,
            category=category,
            kind=category.kind,
            address=address,
            reporter_name=_reporter_name(param_text(params, "first_name"), param_text(params, "last_name")),
            reporter_phone=param_text(params, "phone"),
            channel=Issue.Channel.OPEN311,
        )
    except ValidationFailed as exc:
        fields = {OPEN311_FIELDS.get(name, name): messages for name, messages in exc.fields.items()}
        raise ValidationFailed(exc.message, fields=fields) from exc
