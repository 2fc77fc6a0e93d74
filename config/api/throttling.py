from rest_framework.throttling import SimpleRateThrottle


class CallerRateThrottle(SimpleRateThrottle):
    """One budget per API key, per staff user, or per address for anonymous callers.

    Counted in the cache: while Redis is down nobody is throttled (config/cache.py says why, and warns).
    """

    scope = "caller"

    def get_cache_key(self, request, view):
        user = request.user
        if getattr(user, "api_key", None) is not None:
            ident = f"key:{user.api_key.prefix}"
        elif user and user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def wait(self):
        """Seconds until the caller may call again, never None: a 429 always says when (`Retry-After`)."""
        seconds = super().wait()
        return self.duration if seconds is None else seconds
