from rest_framework.permissions import SAFE_METHODS, BasePermission


class HasScope(BasePermission):
    """Staff may do anything; an API key needs `read` to read and the view's `write_scope` to write."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if user.is_staff:
            return True
        required = "read" if request.method in SAFE_METHODS else getattr(view, "write_scope", None)
        if required is None:
            self.message = "This operation is for staff only."
            return False
        if required not in user.scopes:
            self.message = f"This API key lacks the '{required}' scope."
            return False
        return True
