from __future__ import annotations

from typing import TYPE_CHECKING

from servicekit import problems
from servicekit.problems import ConflictError, ForbiddenError, NotFoundError, ServiceError

if TYPE_CHECKING:
    from timecapture.domain.imports import RowError


class TimecaptureError(ServiceError):
    """Base of time capture's domain errors."""


class FieldInvalid(TimecaptureError, problems.FieldInvalid):
    """A request field breaks a rule; the pointer names the field."""


class TimeEntryInvalid(FieldInvalid):
    slug = "time-entry-invalid"
    title = "Invalid time entry"


class MemberInvalid(FieldInvalid):
    slug = "member-invalid"
    title = "Invalid member"


class ProjectInvalid(FieldInvalid):
    slug = "project-invalid"
    title = "Invalid project"


class TimeEntryOverlaps(TimecaptureError, ConflictError):
    slug = "time-entry-overlaps"
    title = "Time entry overlaps another"


class TimeEntryLocked(TimecaptureError, ConflictError):
    slug = "time-entry-locked"
    title = "Time entry is on an issued invoice"


class TimerAlreadyRunning(TimecaptureError, ConflictError):
    slug = "timer-already-running"
    title = "A timer is already running"


class TimerStopped(TimecaptureError, ConflictError):
    slug = "timer-stopped"
    title = "Timer already stopped"


class DuplicateValue(TimecaptureError, ConflictError):
    """A unique field (client name, project code, member email) is taken."""

    slug = "duplicate-value"
    title = "Value already in use"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail, errors=[{"pointer": f"#/{field}", "detail": detail}])


class CurrencyLocked(TimecaptureError, ConflictError):
    slug = "client-currency-locked"
    title = "Client currency cannot change"


class NotYourTime(TimecaptureError, ForbiddenError):
    slug = "not-your-time"
    title = "Members log and edit only their own time"


class TimeEntryNotFound(TimecaptureError, NotFoundError):
    slug = "time-entry-not-found"
    title = "Time entry not found"


class ClientNotFound(TimecaptureError, NotFoundError):
    slug = "client-not-found"
    title = "Client not found"


class ProjectNotFound(TimecaptureError, NotFoundError):
    slug = "project-not-found"
    title = "Project not found"


class MemberNotFound(TimecaptureError, NotFoundError):
    slug = "member-not-found"
    title = "Member not found"


class TimerNotFound(TimecaptureError, NotFoundError):
    slug = "timer-not-found"
    title = "Timer not found"


class ImportRejected(TimecaptureError):
    """An all-or-nothing import with bad rows: nothing was written; `errors` lists every row."""

    status = 422
    slug = "import-rejected"
    title = "Import rejected"

    def __init__(self, received: int, errors: list[RowError]) -> None:
        super().__init__(
            f"{len(errors)} of {received} rows are invalid; nothing was imported",
            received=received,
            errors=[{"row": e.row, "field": e.field, "detail": e.detail} for e in errors],
        )
