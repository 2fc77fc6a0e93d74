import json
from decimal import Decimal

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from config.errors import PayloadTooLargeError


class DecimalJSONParser(JSONParser):
    """JSON whose numbers with a fraction become Decimals: credits and costs never pass through a float."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        # DRF reads the raw stream, so Django's own body limit never applies here.
        body = stream.read(settings.API_MAX_BODY_BYTES + 1)
        if len(body) > settings.API_MAX_BODY_BYTES:
            raise PayloadTooLargeError(f"The body is over {settings.API_MAX_BODY_BYTES} bytes: send smaller batches.")
        try:
            return json.loads(body.decode(encoding), parse_float=Decimal)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
