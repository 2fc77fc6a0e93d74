from rest_framework.negotiation import DefaultContentNegotiation

from config.api.fields import canonical_choice


class FormatParameterNegotiation(DefaultContentNegotiation):
    """`?format=` decides the answer's type, whatever `Accept` says (`Accept: text/csv` with `format=csv` is no 406).

    The first renderer of that format answers it (the schema's `yaml` or `json`), else the first renderer: a CSV
    export streams past the renderers, and a bad `format` is a JSON 400 from the view."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if "format" in request.query_params:
            fmt = canonical_choice(request.query_params["format"], [renderer.format for renderer in renderers])
            chosen = next((renderer for renderer in renderers if renderer.format == fmt), renderers[0])
            return chosen, chosen.media_type
        return super().select_renderer(request, renderers, format_suffix)
