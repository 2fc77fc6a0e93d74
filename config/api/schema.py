"""How our authentication classes appear in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "config.api.auth.BearerAuthentication"
    name = "BearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An outlet API key (`prefix.secret`) or a JWT from `POST /api/v1/auth/token/`.",
        }


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "config.api.auth.StaffSessionAuthentication"
    name = "StaffSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": "A staff admin session."}
