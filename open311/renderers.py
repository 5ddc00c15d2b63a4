"""GeoReport v2's two formats: JSON, and XML built with xml.etree (the spec's element names, UTF-8 declaration)."""

import re
import xml.etree.ElementTree as ET

from rest_framework.renderers import BaseRenderer, JSONRenderer

# The element of each item of a list, by the list's element name (GeoReport v2's XML examples).
XML_ITEM_TAGS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}


# Characters XML 1.0 cannot carry at all, even escaped (control characters other than tab, newline, return).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class Open311JSONRenderer(JSONRenderer):
    format = "json"
    media_type = "application/json"
    charset = "utf-8"


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _append(parent: ET.Element, tag: str, value) -> None:
    element = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, item in value.items():
            _append(element, key, item)
    elif isinstance(value, list | tuple):
        item_tag = XML_ITEM_TAGS.get(tag, "item")
        for item in value:
            _append(element, item_tag, item)
    else:
        element.text = _text(value)


def to_xml(data, root: str) -> bytes:
    """Return `data` as a GeoReport v2 XML document whose root element is `root`."""
    holder = ET.Element("holder")
    _append(holder, root, data)
    body = ET.tostring(holder[0], encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8")


class Open311XMLRenderer(BaseRenderer):
    """Render with the root element the view named on the response (`response.xml_root`)."""

    format = "xml"
    media_type = "text/xml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        response = (renderer_context or {}).get("response")
        return to_xml(data, getattr(response, "xml_root", "response"))
