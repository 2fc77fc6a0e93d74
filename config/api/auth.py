"""API authentication that needs no app: the staff admin session. Outlet keys and tokens are `credits.auth`."""

from rest_framework.authentication import SessionAuthentication


class StaffSessionAuthentication(SessionAuthentication):
    """The admin session, for staff only: other users are anonymous to the API."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None or not result[0].is_staff:
            return None
        return result
