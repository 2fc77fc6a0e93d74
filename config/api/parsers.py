import json
from decimal import Decimal

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number: send finite numbers only")


class ApiJSONParser(JSONParser):
    """Every API body: numbers with a fraction as Decimals (credits never pass through a float), and what
    Python or PostgreSQL cannot take refused as a 400: NaN and Infinity, nesting deeper than the decoder goes.

    The body's size is bounded before it reaches here, by Django's DATA_UPLOAD_MAX_MEMORY_SIZE (a 413); NUL
    characters are refused where each field is validated (DRF's CharField, the ingest validation).
    """

    decode = json.JSONDecoder(parse_float=Decimal, parse_constant=_refuse_constant).decode

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return self.decode(stream.read().decode(encoding))
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise ParseError(f"JSON parse error - {exc}") from None
