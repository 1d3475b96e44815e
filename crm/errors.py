"""Errors that end with one clear message for an operator or a user."""


class ConfigurationError(Exception):
    """Start-up cannot go on; the message says what to set or fix."""


class ServiceError(Exception):
    """A business rule refused an operation; the message is safe to show."""


class NotFound(ServiceError):
    """The object does not exist, or the actor may not know that it does."""
