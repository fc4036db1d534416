"""The error tree of the domain layer.

Every error a service raises on purpose derives from :class:`DomainError`; the front ends map
the subclasses to their own language (a CLI line and exit code, an HTTP status, a RADIUS
Reply-Message). Callers branch on the class, never on the message text.
"""


class DomainError(Exception):
    """A request the domain refuses; the message is safe to show to the person who asked."""


class InvalidInput(DomainError):
    """A value breaks a rule of the domain (a malformed INSEE code, a short secret…)."""


class NotFound(DomainError):
    """The thing named does not exist (or is outside the caller's reach)."""


class Conflict(DomainError):
    """The change would break a uniqueness rule or the thing is referenced elsewhere."""


class SecretUnreadable(DomainError):
    """A secret stored at rest cannot be decrypted: the secret key changed or the data is damaged."""
