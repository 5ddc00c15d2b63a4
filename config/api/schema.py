"""OpenAPI: the error body as one component, and the error answers every operation can give.

Views only declare what is particular to them (`extend_schema(responses={409: ErrorResponseSerializer})`);
this hook adds the errors any operation can answer, so clients and schemathesis know them all.
"""

from config.api.exceptions import MESSAGES

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
ERROR_SCHEMA = {
    "type": "object",
    "description": 'API.md\'s error body: `{"error": {"code", "message", "fields"?}}`.',
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                # Not an enum: the list only grows (API.md: change only by adding), and a client must not break.
                "code": {
                    "type": "string",
                    "description": "Stable machine-readable code: "
                    + ", ".join(f"`{code}`" for code in MESSAGES)
                    + ", …",
                    "example": "validation_error",
                },
                "message": {"type": "string", "description": "Human-readable explanation."},
                "fields": {
                    "type": "object",
                    "description": "Each bad field (nested fields joined with '.') and its messages.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}
# Status → description, for every operation / for operations with a body / for operations that change state.
ANY_OPERATION = {
    "400": "validation_error (`fields` names each bad field) or malformed_json",
    "401": "not_authenticated",
    "403": "permission_denied",
    "404": "not_found",
    "429": "throttled (see Retry-After)",
}
WITH_BODY = {"413": "payload_too_large", "415": "unsupported_media_type"}
CHANGING = {"409": "invalid_transition or stale_version"}
SAFE_METHODS = {"get", "head", "options"}


def add_error_responses(result: dict, generator, request, public) -> dict:
    """Add the ErrorResponse component and the error answers to every operation (drf-spectacular hook)."""
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorResponse"] = ERROR_SCHEMA
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            errors = dict(ANY_OPERATION)
            if "requestBody" in operation:
                errors.update(WITH_BODY)
            if method not in SAFE_METHODS:
                errors.update(CHANGING)
            for status, description in errors.items():
                operation["responses"].setdefault(
                    status, {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}
                )
    return result
