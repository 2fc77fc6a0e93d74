"""`{% load times %}`: a time in the page's zone, named, `{{ entry.effective_at|in_zone }}` (config.admin.zoned_text)."""

from django import template
from django.utils import timezone

from config.admin import zoned_text

register = template.Library()


@register.filter
def in_zone(value) -> str:
    """2026-03-08 01:30:00 IST (Asia/Kolkata) on a page rendered in Asia/Kolkata; nothing for no time."""
    return zoned_text(value, timezone.get_current_timezone()) if value else ""
