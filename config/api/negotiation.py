from rest_framework.negotiation import DefaultContentNegotiation


class FormatParameterNegotiation(DefaultContentNegotiation):
    """`?format=` decides the answer's type, whatever `Accept` says (`Accept: text/csv` with `format=csv` is no 406).

    The JSON renderer answers it: a CSV export streams past the renderers, and a bad `format` is a JSON 400."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if "format" in request.query_params:
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
