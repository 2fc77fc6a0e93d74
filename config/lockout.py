"""The admin login's lockout (django-axes): whose address an attempt came from, and what a locked one is answered."""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.template.response import TemplateResponse

LOCKED_STATUS = 429


def client_address(request) -> str | None:
    """The address a login attempt came from (AXES_CLIENT_IP_CALLABLE). Behind TRUSTED_PROXY_COUNT proxies that
    each append to X-Forwarded-For, the entry the outermost of them wrote: entries before it are the client's own
    say, and the proxy's address alone would make every lock one per username, for anyone to trigger."""
    count = settings.TRUSTED_PROXY_COUNT
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if count and len(hops) >= count:
        return hops[-count]
    return request.META.get("REMOTE_ADDR")


def lockout_message(username: str) -> str:
    minutes = settings.AXES_COOLOFF_MINUTES
    wait = f"Try again in {minutes} minutes, or ask" if minutes else "Ask"
    return (
        f"Too many failed logins for '{username}' from your address: this login is locked. {wait} an "
        f"administrator to unlock it (manage.py axes_reset_username {username})."
    )


def admin_login_locked(request, original_response=None, credentials=None) -> TemplateResponse:
    """The admin's own login page, with the lockout as its error message, answered 429 (AXES_LOCKOUT_CALLABLE)."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    messages.error(request, lockout_message(username))
    form = AdminAuthenticationForm(request, initial={"username": username})
    context = {**admin.site.each_context(request), "title": "Log in", "form": form, "username": username}
    return TemplateResponse(request, "admin/login.html", context, status=LOCKED_STATUS).render()
