"""Errors as the client sees them: one exception type per status, and the one function that
turns every failure (ours, aiohttp's, the database's) into the JSON error envelope (the request
pipeline, :mod:`jaan.web.pipeline`, calls it for whatever a handler raises)."""

from __future__ import annotations

import logging

import psycopg2
import psycopg2.errors
from aiohttp import web

from jaan.db.errors import DatabaseBusy, DatabaseUnavailable, StatementTimeout
from jaan.web.envelope import failure
from jaan.web.request_id import REQUEST_ID

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with a status and a message the client may read."""

    status = 500

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers


class InvalidInput(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class IdempotencyMismatch(ApiError):
    status = 422


class TooManyRequests(ApiError):
    status = 429


class ServiceUnavailable(ApiError):
    status = 503


# aiohttp's own refusals, reworded for people.
_HTTP_MESSAGES = {
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
    415: "Unsupported media type",
}


def database_error(exc: psycopg2.Error) -> ApiError | None:
    """The client-facing meaning of a database error, or None when it is our bug (500)."""
    if isinstance(exc, psycopg2.errors.UniqueViolation):
        return Conflict("A record with the same unique value already exists")
    if isinstance(exc, psycopg2.errors.ForeignKeyViolation):
        if "is still referenced" in (exc.pgerror or ""):
            return Conflict("The record is still referenced by other records")
        return InvalidInput("A referenced record does not exist")
    if isinstance(exc, psycopg2.errors.CheckViolation | psycopg2.errors.NotNullViolation):
        return InvalidInput("A value is missing or out of range")
    if isinstance(exc, psycopg2.errors.NumericValueOutOfRange):
        # The fields are bounded by their columns; this is the last guard for sums of them.
        return InvalidInput("A number is too large")
    if isinstance(exc, psycopg2.errors.LockNotAvailable | psycopg2.errors.DeadlockDetected):
        return ServiceUnavailable("Service busy, try again", headers={"Retry-After": "1"})
    if isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError):
        return ServiceUnavailable("Database unavailable", headers={"Retry-After": "1"})
    return None


def _as_api_error(exc: Exception) -> ApiError | None:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, StatementTimeout):
        return ServiceUnavailable("Database statement timed out")
    if isinstance(exc, DatabaseBusy):
        return ServiceUnavailable("Service busy", headers={"Retry-After": "1"})
    if isinstance(exc, DatabaseUnavailable):
        return ServiceUnavailable("Database unavailable", headers={"Retry-After": "1"})
    if isinstance(exc, psycopg2.Error):
        return database_error(exc)
    return None


def answer_for(request: web.Request, exc: Exception) -> web.Response:
    """The error answer for what a handler raised; re-raises an HTTPException below 400 (a redirect)."""
    if isinstance(exc, ConnectionResetError):
        # The client went away mid-request (typically while sending the body): nobody reads the
        # answer, and it is not our bug, so one warning line rather than a traceback.
        log.warning("%s %s: the client disconnected before the request was complete", request.method, request.raw_path)
        return failure(400, "Request incomplete: the client disconnected")
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc  # redirects and the like pass through
        message = _HTTP_MESSAGES.get(exc.status) or exc.reason
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return failure(exc.status, message, headers=headers)
    api_error = _as_api_error(exc)
    if api_error is None:
        request_id = request.get(REQUEST_ID)
        log.error("unhandled error in %s %s (request %s)", request.method, request.path, request_id, exc_info=exc)
        return failure(500, "Internal server error", request_id=request_id)
    if api_error.status >= 500:
        log.warning("%s %s: %s (%s)", request.method, request.path, api_error.message, type(exc).__name__)
    return failure(api_error.status, api_error.message, details=api_error.details, headers=api_error.headers)
