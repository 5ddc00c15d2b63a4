"""GeoReport v2 shapes of our objects: plain dicts in the spec's field order, rendered as JSON or XML."""

from django.utils import timezone

from issues.models import Category, Issue
from issues.publicity import grid_centroid, public_text
from open311.selectors import OPEN311_STATUS

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
FORMATS = ["text/xml", "application/json"]


def _when(moment) -> str | None:
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else None


def discovery_data(*, base_url: str, contact: str, changeset: str) -> dict:
    endpoint = {
        "specification": SPECIFICATION,
        "url": base_url,
        "changeset": changeset,
        "type": "production",
        "formats": FORMATS,
    }
    return {
        "changeset": changeset,
        "contact": contact,
        "key_service": "Partner API keys are issued by the district administrator (see the GridDesk API docs).",
        "endpoints": [endpoint],
    }


def _attribute_values(attribute: dict) -> list[dict]:
    values = []
    for value in attribute.get("values") or []:
        if isinstance(value, dict):
            values.append({"key": str(value.get("key", "")), "name": str(value.get("name", value.get("key", "")))})
        else:
            values.append({"key": str(value), "name": str(value)})
    return values


def service_attributes(category: Category) -> list[dict]:
    """Return the category's attributes in GeoReport v2's shape, numbered in their stored order."""
    attributes = []
    for order, attribute in enumerate(category.attributes or [], start=1):
        attributes.append(
            {
                "variable": bool(attribute.get("variable", True)),
                "code": str(attribute.get("code", "")),
                "datatype": attribute.get("datatype", "string"),
                "required": bool(attribute.get("required", False)),
                "datatype_description": attribute.get("datatype_description", ""),
                "order": attribute.get("order", order),
                "description": attribute.get("description", ""),
                "values": _attribute_values(attribute),
            }
        )
    return attributes


def service_data(category: Category) -> dict:
    description = category.name
    if category.department_id:
        description = f"{category.name} ({category.department.name})"
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": description,
        "metadata": bool(category.attributes),
        "type": "realtime",
        "keywords": category.kind,
        "group": category.parent.name if category.parent_id else "",
    }


def service_definition_data(category: Category) -> dict:
    return {"service_code": category.code, "attributes": service_attributes(category)}


def service_request_data(issue: Issue, *, media_url: str | None, public: bool) -> dict:
    """Return the issue as a GeoReport v2 request; `public`: as issues.publicity lets the public read it.

    Never written, for anyone: the reporter's name, phone or account (GeoReport reads carry none of them). Public:
    phone numbers in the text masked, no address nor building, the grid's centroid for coordinates.
    `issue` comes from open311.selectors.service_request_list (its open311_* annotations).
    """
    notes = issue.open311_status_notes or ""
    description = issue.description
    if public:
        notes, description = public_text(notes), public_text(description)
        lat, lng = grid_centroid(issue.grid)
        address, address_id = "", ""
    else:
        lat, lng = issue.lat, issue.lng
        if lat is None and issue.building_id:
            lat, lng = issue.building.lat, issue.building.lng
        address = issue.address or (issue.building.address or issue.building.name if issue.building_id else "")
        address_id = issue.building_code
    return {
        "service_request_id": issue.number,
        "status": OPEN311_STATUS[issue.status],
        "status_notes": notes,
        "service_name": issue.category.name if issue.category_id else "",
        "service_code": issue.category.code if issue.category_id else "",
        "description": description,
        "agency_responsible": issue.open311_agency or "",
        "service_notice": "",
        "requested_datetime": _when(issue.created_at),
        "updated_datetime": _when(issue.updated_at),
        "expected_datetime": _when(issue.resolution_due_at),
        "address": address,
        "address_id": address_id,
        "zipcode": "",
        "lat": lat,
        "long": lng,
        "media_url": media_url or "",
    }


def created_data(issue: Issue) -> dict:
    """Return POST requests' answer: we create synchronously, so the request id at once (no token)."""
    return {
        "service_request_id": issue.number,
        "service_notice": f"已受理，编号 {issue.number}；社区将尽快分拨处理。Received as {issue.number}.",
        "account_id": None,
    }


def token_data(*, issue: Issue, token: str) -> dict:
    return {"service_request_id": issue.number, "token": token}
