"""The API's JSON parser: DRF's, with a bound on nesting, so a body of a thousand brackets is a 400, not a 500.

Python's decoder raises RecursionError (not ValueError) on deep nesting, which DRF does not catch; a depth under
that limit would still make every later walk of the data (validation, error flattening) recurse as deep. No API
body needs more than a few levels: an issue with its reporter, an attribute list.
"""

from django.utils.translation import gettext
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32


def json_depth(data) -> int:
    """Return how deeply `data` nests lists and objects (a scalar is 0), without recursion."""
    depth, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        depth = max(depth, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return depth


def too_deep() -> str:
    """Return the refusal of a body nested too deep, in the request's language (DRF keeps a detail's text only)."""
    return gettext("JSON parse error - nested more than %(max)s levels deep.") % {"max": MAX_DEPTH}


class BoundedJSONParser(JSONParser):
    """Parse JSON; refuse (`malformed_json`) a body nested deeper than MAX_DEPTH."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(too_deep()) from None
        if json_depth(data) > MAX_DEPTH:
            raise ParseError(too_deep())
        return data
