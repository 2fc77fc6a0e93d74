"""How the API appears in the OpenAPI schema: our auth schemes, and every error and CSV answer an operation gives."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.permissions import AllowAny

from config.api.csv import FORMAT_PARAMETER

ERROR_COMPONENT = ResolvedComponent(
    name="Error",
    type=ResolvedComponent.SCHEMA,
    object="config.api.exceptions.error_body",
    schema={
        "type": "object",
        "description": "Every API error: `code` and `errors` by field for a program, `message` for a person.",
        "required": ["success", "code", "message", "errors"],
        "properties": {
            "success": {"type": "boolean", "description": "Always false on an error."},
            "code": {"type": "string", "description": "A stable slug, e.g. invalid_parameter or not_found (docs/api.md)."},
            "message": {"type": "string"},
            "errors": {
                "type": "object",
                "additionalProperties": True,
                "description": "Messages by field (`non_field_errors` for the whole request); empty when none applies.",
            },
        },
    },
)
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}}
ERROR_DESCRIPTIONS = {
    "400": "A bad request (a parameter, the body, the URL): `errors` names each field.",
    "401": "No credentials, or credentials that are not valid.",
    "403": "The credentials do not allow this operation (a missing scope, or staff only).",
    "404": "No such object for the caller.",
    "409": "The `Idempotency-Key` was used before with a different request.",
    "413": "The body is too large.",
    "415": "The body is not `application/json`.",
    "429": "Too many requests: retry after `Retry-After` seconds.",
    "503": "The service cannot answer now (the database unavailable or too slow): retry after `Retry-After` seconds.",
}
CSV_FORMAT = FORMAT_PARAMETER.name


class ApiAutoSchema(AutoSchema):
    """Documents what every operation can answer besides its 200, from what it takes, so no view lists it by hand."""

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        self.registry.register_on_missing(ERROR_COMPONENT)
        responses = operation["responses"]
        parameters = operation.get("parameters", [])
        if any(_offers_csv(parameter) for parameter in parameters):
            for code, response in responses.items():
                if code.startswith("2") and "content" in response:
                    response["content"]["text/csv"] = {"schema": {"type": "string"}}
        for code in self._error_codes(parameters, has_body="requestBody" in operation):
            response = responses.setdefault(code, {"description": ERROR_DESCRIPTIONS[code]})
            if code in ("429", "503"):
                response["headers"] = {**response.get("headers", {}), **RETRY_AFTER}
        for code, response in responses.items():  # a status a view names by hand too
            if code >= "400":
                response.setdefault("content", {"application/json": {"schema": ERROR_COMPONENT.ref}})
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _get_serializer_name(self, serializer, direction, *args):
        """A body that is only ever sent (`...Input`) keeps its name: no response twin to tell it from."""
        name = super()._get_serializer_name(serializer, direction, *args)
        return name.removesuffix("Request") if name.endswith("InputRequest") else name

    def _error_codes(self, parameters: list[dict], *, has_body: bool) -> list[str]:
        codes = ["400", "503"]  # any request can be a bad one: a NUL in its URL, a Host not allowed
        if not all(isinstance(permission, AllowAny) for permission in self.view.get_permissions()):
            codes += ["401", "403"]
        # A path names an object; `outlet_id` (staff) an outlet: either may not exist for the caller.
        if any(parameter["in"] == "path" or parameter["name"] == "outlet_id" for parameter in parameters):
            codes.append("404")
        if any(parameter["in"] == "header" and parameter["name"] == "Idempotency-Key" for parameter in parameters):
            codes.append("409")
        if has_body:
            codes += ["413", "415"]
        if self.view.get_throttles():
            codes.append("429")
        return codes


def _offers_csv(parameter: dict) -> bool:
    return parameter["in"] == "query" and parameter["name"] == CSV_FORMAT and "csv" in parameter["schema"].get("enum", [])


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "config.api.auth.StaffSessionAuthentication"
    name = "StaffSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": "A staff admin session."}
