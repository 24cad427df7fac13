"""Field types the routes share."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field

# Every period must have UTC bounds in every timezone (a day either side of year 1 or 9999
# overflows), so dates stay well inside.
BillingDate = Annotated[date, Field(ge=date(1971, 1, 1), le=date(9998, 12, 31))]
