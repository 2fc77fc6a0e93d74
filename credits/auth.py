"""API authentication: outlet API keys and outlet JWTs as Bearer credentials, and the principal they give."""

import functools
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

from django.db import connection
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from credits.models import ApiKey, Outlet
from credits.services import Actor

# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiPrincipal:
    """The caller behind an API key or a JWT minted from one: acts for exactly one outlet."""

    api_key: ApiKey
    scopes: frozenset[str] = field(default_factory=frozenset)
    via_token: bool = False

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    @property
    def outlet_id(self) -> UUID:
        return self.api_key.outlet_id

    def __str__(self) -> str:
        return f"api_key:{self.api_key.prefix}"


def authenticate_api_key(raw_key: str) -> ApiKey:
    prefix, _, _ = raw_key.partition(".")
    api_key = _key_of(prefix)
    if api_key is None or not api_key.is_valid(raw_key):
        raise AuthenticationFailed("Invalid API key.")
    return _usable(api_key)


def _key_of(prefix: str) -> ApiKey | None:
    """The key with its outlet, in one statement; prefixes are unique, so unsorted.

    Every authenticated request makes it: written as SQL once, where the ORM compiled its join of both models'
    columns on each request at twice the statement's own cost (docs/benchmarks.md, issue 19). The values pass
    each field's converters and make the instances as the ORM would.
    """
    with connection.cursor() as cursor:
        cursor.execute(_key_sql(connection.vendor), [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for position, (model_field, column) in enumerate(_KEY_AND_OUTLET_FIELDS):
        for converter in (*connection.ops.get_db_converters(column), *model_field.get_db_converters(connection)):
            values[position] = converter(values[position], column, connection)
    key_width = len(ApiKey._meta.concrete_fields)
    api_key = ApiKey.from_db(connection.alias, None, values[:key_width])
    ApiKey.outlet.field.set_cached_value(api_key, Outlet.from_db(connection.alias, None, values[key_width:]))
    return api_key


# Each concrete field of a key then of its outlet, in the order `_key_sql` selects them, with its column expression.
_KEY_AND_OUTLET_FIELDS = [
    (model_field, model_field.get_col(model._meta.db_table))
    for model in (ApiKey, Outlet)
    for model_field in model._meta.concrete_fields
]


@functools.cache
def _key_sql(vendor: str) -> str:
    """The lookup's statement on `vendor`'s database: the key's columns, then its outlet's."""
    quote = connection.ops.quote_name

    def name(model, column: str) -> str:
        return f"{quote(model._meta.db_table)}.{quote(column)}"

    columns = ", ".join(name(model_field.model, model_field.column) for model_field, _ in _KEY_AND_OUTLET_FIELDS)
    on = f"{name(ApiKey, ApiKey._meta.get_field('outlet').column)} = {name(Outlet, Outlet._meta.pk.column)}"
    return (
        f"SELECT {columns} FROM {quote(ApiKey._meta.db_table)} INNER JOIN {quote(Outlet._meta.db_table)} ON {on} "
        f"WHERE {name(ApiKey, ApiKey._meta.get_field('prefix').column)} = %s LIMIT 1"
    )


def _usable(api_key: ApiKey) -> ApiKey:
    if api_key.revoked:
        raise AuthenticationFailed("This API key has been revoked.")
    if api_key.has_expired:
        raise AuthenticationFailed("This API key has expired.")
    if not api_key.outlet.is_active:
        raise AuthenticationFailed("This API key's outlet is inactive.")
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def mint_access_token(api_key: ApiKey) -> AccessToken:
    token = AccessToken()
    token["sub"] = api_key.prefix
    token["outlet_id"] = str(api_key.outlet_id)
    token["scopes"] = list(api_key.scopes)
    return token


def authenticate_access_token(raw_token: str) -> ApiKey:
    try:
        token = AccessToken(raw_token)
    except TokenError as exc:
        raise AuthenticationFailed(f"Invalid token: {exc}.") from None
    api_key = _key_of(token.get("sub"))
    if api_key is None or str(api_key.outlet_id) != token.get("outlet_id"):
        raise AuthenticationFailed("Invalid token: its API key no longer exists.")
    return _usable(api_key)


class BearerAuthentication(BaseAuthentication):
    """`Authorization: Bearer <api key>` or `Bearer <JWT from /api/v1/auth/token/>`."""

    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Authorization header must be 'Bearer <api key or token>'.")
        try:
            credential = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid credentials: not ASCII.") from None
        # A JWT has three dot-separated segments; an API key is `prefix.secret`.
        is_token = credential.count(".") == 2
        api_key = authenticate_access_token(credential) if is_token else authenticate_api_key(credential)
        return ApiPrincipal(api_key, frozenset(api_key.scopes), via_token=is_token), api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = BearerAuthentication
    name = "BearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An outlet API key (`prefix.secret`) or a JWT from `POST /api/v1/auth/token/`.",
        }


def request_actor(request) -> Actor:
    """Who the ledger and the records name as having done it: the key, or the staff user."""
    if isinstance(request.user, ApiPrincipal):
        return Actor.for_api_key(request.user.api_key)
    return Actor.for_user(request.user)
