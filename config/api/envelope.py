from rest_framework.renderers import JSONRenderer


class EnvelopeJSONRenderer(JSONRenderer):
    """Adds `"success": true` to every successful payload; errors carry their own."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if isinstance(data, dict) and "success" not in data and response is not None and response.status_code < 400:
            data = {"success": True, **data}
        return super().render(data, accepted_media_type, renderer_context)
