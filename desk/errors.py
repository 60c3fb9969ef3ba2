"""The requests the desk refuses, each with the HTTP status it is answered with (the app's
error middleware turns them into `{"error": ...}` JSON). Raised by the store, the service
and the handlers alike."""

from __future__ import annotations

from typing import Any


class DeskError(Exception):
    """A request the desk refuses; `status` is the HTTP status to answer with and `extra`
    more fields of the JSON answer (e.g. the `changes` of a 409)."""

    status = 400

    def __init__(self, message: str, status: int | None = None, **extra: Any):
        super().__init__(message)
        if status is not None:
            self.status = status
        self.extra = extra


class NotFound(DeskError):
    status = 404


class Forbidden(DeskError):
    status = 403


class Conflict(DeskError):
    status = 409


class DatabaseUnavailable(DeskError):
    """The desk's database cannot be reached now (PostgreSQL restarting, the network to
    it down): 503, to be tried again shortly. Nothing of the request was committed unless
    the caller was told so."""

    status = 503
