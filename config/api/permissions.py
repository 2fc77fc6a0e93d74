from rest_framework.permissions import SAFE_METHODS, BasePermission


def answers(view, method: str) -> bool:
    """Whether the view has a handler for the HTTP method (DRF answers any other with 405)."""
    name = method.lower()
    return name in view.http_method_names and hasattr(view, name)


def has_model_permission(user, permission: str) -> bool:
    """As the admin decides: a model's change permission also lets one view it."""
    if user.has_perm(permission):
        return True
    app_label, _, codename = permission.partition(".")
    return codename.startswith("view_") and user.has_perm(f"{app_label}.change_{codename.removeprefix('view_')}")


class HasScope(BasePermission):
    """Who may call an operation.

    An API key needs `read` to read and the view's `write_scope` to write. Staff (the admin session) need the
    Django permissions the admin asks for the same thing: every one of the view's `read_permissions` to read,
    of its `write_permissions` to write; a view that names none is closed to staff, superusers included.
    For OPTIONS, and for a method the view has no handler for, any authenticated caller passes, so that DRF
    describes the endpoint or answers 405 with `Allow` rather than 403 (the anonymous still get 401).
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if request.method == "OPTIONS" or not answers(view, request.method):
            return True  # OPTIONS describes the endpoint and touches no data
        safe = request.method in SAFE_METHODS
        if user.is_staff:
            return self.staff_may(user, getattr(view, "read_permissions" if safe else "write_permissions", None))
        required = "read" if safe else getattr(view, "write_scope", None)
        if required is None:
            self.message = "This operation is for staff only."
            return False
        if required not in user.scopes:
            self.message = f"This API key lacks the '{required}' scope."
            return False
        return True

    def staff_may(self, user, permissions: tuple[str, ...] | None) -> bool:
        if not permissions:
            self.message = "This operation is not open to staff sessions."
            return False
        missing = [permission for permission in permissions if not has_model_permission(user, permission)]
        if missing:
            self.message = f"Your account lacks the permission {', '.join(repr(name) for name in missing)}."
            return False
        return True
