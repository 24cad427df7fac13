from servicekit.problems import NotFoundError, ServiceError


class TimecaptureError(ServiceError):
    """Base of time capture's domain errors."""


class TimeEntryInvalid(TimecaptureError):
    status = 422
    slug = "time-entry-invalid"
    title = "Invalid time entry"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail, errors=[{"pointer": f"#/{field}", "detail": detail}])
        self.field = field


class TimeEntryNotFound(TimecaptureError, NotFoundError):
    slug = "time-entry-not-found"
    title = "Time entry not found"
