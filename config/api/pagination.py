"""Keyset (cursor) pagination: `items` + an opaque signed `cursor`, `order` asc|desc, `take` 1..1000.

A cursor holds the sort key of the last row served, so a page is one index range scan
however deep it is, and rows inserted meanwhile neither shift nor repeat a page.
"""

from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import BooleanField, Expression, F
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from config.api.fields import canonical_choice

CURSOR_SALT = "ledgerline.api.cursor"
INVALID_CURSOR = "Invalid cursor: pass back the `cursor` of a previous page."
ORDERS = ("asc", "desc")


class RowComparison(Expression):
    """`(a, b) > (x, y)`: a row-value comparison that PostgreSQL answers from a composite index."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, fields: tuple[str, ...], values: list, operator: str):
        super().__init__()
        self.columns = [F(name) for name in fields]
        self.values = values
        self.operator = operator

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        resolved = self.copy()
        resolved.columns = [column.resolve_expression(query, allow_joins, reuse, summarize, for_save) for column in self.columns]
        return resolved

    def as_sql(self, compiler, connection):
        column_sql, params = [], []
        for column in self.columns:
            sql, column_params = compiler.compile(column)
            column_sql.append(sql)
            params.extend(column_params)
        for column, value in zip(self.columns, self.values):
            params.append(column.output_field.get_db_prep_value(value, connection))
        placeholders = ", ".join(["%s"] * len(self.values))
        return f"({', '.join(column_sql)}) {self.operator} ({placeholders})", params


def parse_order(params) -> str:
    order = canonical_choice(params.get("order", "desc"), ORDERS)
    if order not in ORDERS:
        raise ValidationError({"order": [f"Must be 'asc' or 'desc', not '{order}'."]})
    return order


def parse_take(params, *, default: int = 50, maximum: int = 1000) -> int:
    raw = params.get("take", str(default))
    try:
        take = int(raw)
    except ValueError:
        raise ValidationError({"take": [f"Must be a whole number from 1 to {maximum}, not '{raw}'."]}) from None
    if not 1 <= take <= maximum:
        raise ValidationError({"take": [f"Must be from 1 to {maximum}, not {take}."]})
    return take


class KeysetPagination(BasePagination):
    """The view names its sort key in `cursor_fields`, unique as a whole (end it with the pk)."""

    default_take = 50
    max_take = 1000

    def paginate_queryset(self, queryset, request, view=None):
        fields = tuple(view.cursor_fields)
        order = parse_order(request.query_params)
        take = parse_take(request.query_params, default=self.default_take, maximum=self.max_take)
        raw_cursor = request.query_params.get("cursor")
        if raw_cursor:
            position = self.decode_cursor(raw_cursor, fields=fields, order=order)
            values = self.position_values(queryset.model, fields, position)
            queryset = queryset.filter(RowComparison(fields, values, "<" if order == "desc" else ">"))
        prefix = "-" if order == "desc" else ""
        rows = list(queryset.order_by(*(prefix + name for name in fields))[: take + 1])
        self.next_cursor = None
        if len(rows) > take:
            rows = rows[:take]
            last = rows[-1]
            self.next_cursor = self.encode_cursor([getattr(last, name) for name in fields], fields=fields, order=order)
        return rows

    @staticmethod
    def encode_cursor(values: list, *, fields: tuple[str, ...], order: str) -> str:
        position = [value.isoformat() if hasattr(value, "isoformat") else str(value) for value in values]
        return signing.dumps({"f": list(fields), "o": order, "p": position}, salt=CURSOR_SALT, compress=True)

    @staticmethod
    def decode_cursor(raw: str, *, fields: tuple[str, ...], order: str) -> list:
        try:
            payload = signing.loads(raw, salt=CURSOR_SALT)
        except signing.BadSignature:
            raise ValidationError({"cursor": [INVALID_CURSOR]}) from None
        if not isinstance(payload, dict):
            raise ValidationError({"cursor": [INVALID_CURSOR]})
        position = payload.get("p")
        if payload.get("f") != list(fields) or not isinstance(position, list) or len(position) != len(fields):
            raise ValidationError({"cursor": ["This cursor belongs to another list."]})
        if payload.get("o") != order:
            raise ValidationError({"cursor": [f"This cursor was issued for order={payload.get('o')}; keep the same order."]})
        return position

    @staticmethod
    def position_values(model, fields: tuple[str, ...], position: list) -> list:
        """The cursor's texts as the sort key's values; a position of another shape is an invalid cursor."""
        model_fields = [model._meta.get_field(name) for name in fields]
        try:
            values = [field.to_python(text) for field, text in zip(model_fields, position) if isinstance(text, str)]
            if len(values) == len(fields):
                # The database refuses what its column cannot hold: an id past bigint is no row's position.
                for field, value in zip(model_fields, values):
                    field.run_validators(value)
                return values
        except (DjangoValidationError, TypeError, ValueError, OverflowError):
            pass
        raise ValidationError({"cursor": [INVALID_CURSOR]})

    def get_paginated_response(self, data):
        return Response({"items": data, "cursor": self.next_cursor})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["success", "items", "cursor"],
            "properties": {
                "success": {"type": "boolean", "example": True},
                "items": schema,
                "cursor": {"type": "string", "nullable": True, "description": "Pass as `cursor` for the next page; null on the last."},
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": "The `cursor` of the previous page.",
                "schema": {"type": "string"},
            },
            {
                "name": "order",
                "in": "query",
                "required": False,
                "description": "Sort direction by time.",
                "schema": {"type": "string", "enum": list(ORDERS), "default": "desc"},
            },
            {
                "name": "take",
                "in": "query",
                "required": False,
                "description": "Page size.",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_take, "default": self.default_take},
            },
        ]
