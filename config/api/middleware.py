from django.http import JsonResponse

from config.api.exceptions import error_body


class RefuseNulInUrlMiddleware:
    """A NUL (`%00`) in an API path or query string is a 400 at the door: no PostgreSQL text can hold one, and
    path segments and query values reach lookups that a serializer never sees."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/") and ("\x00" in request.path or "%00" in request.META.get("QUERY_STRING", "")):
            return JsonResponse(error_body("The URL must not contain the NUL character (%00)."), status=400)
        return self.get_response(request)
