"""From unbilled entries, rate rules and manual lines to the lines of a draft (no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

from contracts.money import Money
from invoicing.domain.invoices import GroupBy, LineKind
from invoicing.domain.periods import Period, local_date
from invoicing.domain.pricing import (
    Discount,
    LineInput,
    RoundingMode,
    Tax,
    billed_seconds,
    hours,
    line_amount,
)
from invoicing.domain.rates import RateRule, resolve


@dataclass(frozen=True, slots=True)
class UnbilledEntry:
    entry_id: UUID
    version: int
    member_id: UUID
    project_id: UUID
    project_name: str
    task: str | None
    started_at: datetime
    duration_seconds: int
    rounding_increment_minutes: int
    rounding_mode: RoundingMode


@dataclass(frozen=True, slots=True)
class ManualLine:
    description: str
    quantity: Decimal
    unit_amount_minor: int
    unit: str = ""
    discount: Discount | None = None
    tax: Tax | None = None


@dataclass(frozen=True, slots=True)
class EntryCharge:
    entry_id: UUID
    version: int
    raw_seconds: int
    billed_seconds: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class DraftLine:
    kind: LineKind
    description: str
    quantity: Decimal
    unit: str
    unit_amount_minor: int
    amount_minor: int
    project_id: UUID | None = None
    member_id: UUID | None = None
    task: str | None = None
    discount: Discount | None = None
    tax: Tax | None = None
    raw_seconds: int | None = None
    billed_seconds: int | None = None
    rule: RateRule | None = None
    entries: tuple[EntryCharge, ...] = ()
    # Fixed fees and retainer months this line bills: (rule id, month).
    charges: tuple[tuple[UUID, date], ...] = ()
    # Adjustment lines: the issued invoice adjusted, and whether this draft now holds the
    # entry (not when it was deleted, made non-billable or moved to another client).
    adjusts_invoice_id: UUID | None = None
    holds_entries: bool = True

    def as_input(self) -> LineInput:
        return LineInput(
            quantity=self.quantity,
            unit_amount_minor=self.unit_amount_minor,
            discount=self.discount,
            tax=self.tax,
            amount_minor=self.amount_minor,
        )


@dataclass(frozen=True, slots=True)
class DraftPlan:
    lines: tuple[DraftLine, ...]
    # Billable entries with no rate in effect: the draft is refused while any remain.
    unpriced: tuple[UUID, ...] = ()


_FOUR_DAYS = timedelta(days=4)


@dataclass
class _Group:
    project_id: UUID
    project_name: str
    member_id: UUID | None
    task: str | None
    rule: RateRule
    entries: list[tuple[UnbilledEntry, int]] = field(default_factory=list)


# A fixed fee is billed once; its "month" is the day the rule took effect.
def fee_key(rule: RateRule) -> tuple[UUID, date]:
    return (rule.id, rule.effective_from)


def plan_draft(
    entries: Sequence[UnbilledEntry],
    rules: Sequence[RateRule],
    *,
    client_id: UUID,
    currency: str,
    tz: ZoneInfo,
    group_by: GroupBy,
    tax: Tax | None,
    period: Period | None,
    billed_charges: Iterable[tuple[UUID, date]] = (),
    manual: Sequence[ManualLine] = (),
    member_label: Callable[[UUID], str] = lambda m: f"member {str(m)[:8]}",
) -> DraftPlan:
    """The draft's lines: time grouped as asked and priced by the rule of each entry's date,
    then fixed fees and retainer months not billed before, then the manual lines.

    `rules` are the rules that may apply to this client (tenant, client, and its projects').
    """
    groups: dict[tuple[object, ...], _Group] = {}
    unpriced: list[UUID] = []
    covering: list[RateRule] = []
    for entry in sorted(entries, key=lambda e: (e.started_at, e.entry_id)):
        day = local_date(entry.started_at, tz)
        rule = resolve(
            rules,
            currency=currency,
            client_id=client_id,
            project_id=entry.project_id,
            member_id=entry.member_id,
            day=day,
        )
        if rule is None:
            unpriced.append(entry.entry_id)
            continue
        if not rule.prices_time:
            covering.append(rule)
        member = entry.member_id if group_by in ("member", "entry") else None
        task = entry.task if group_by in ("task", "entry") else None
        per_entry: tuple[object, ...] = (entry.entry_id,) if group_by == "entry" else ()
        key = (entry.project_id, member, task, rule.id, *per_entry)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(entry.project_id, entry.project_name, member, task, rule)
        billed = billed_seconds(
            entry.duration_seconds, entry.rounding_increment_minutes, entry.rounding_mode
        )
        group.entries.append((entry, billed))
    lines = [_time_line(g, currency, tax, member_label) for g in groups.values()]
    lines += _charges(rules, covering, client_id, period, set(billed_charges), tax)
    lines += [_manual_line(m, currency) for m in manual]
    return DraftPlan(tuple(lines), tuple(unpriced))


def _time_line(
    group: _Group, currency: str, tax: Tax | None, member_label: Callable[[UUID], str]
) -> DraftLine:
    rule = group.rule
    raw = sum(e.duration_seconds for e, _ in group.entries)
    billed = sum(b for _, b in group.entries)
    parts = [group.project_name]
    if group.member_id is not None:
        parts.append(member_label(group.member_id))
    if group.task:
        parts.append(group.task)
    description = " / ".join(parts)
    if rule.kind == "daily":
        quantity, unit = hours(billed, rule.hours_per_day), "d"
        unit_amount = rule.amount_minor
    elif rule.kind == "hourly":
        quantity, unit = hours(billed), "h"
        unit_amount = rule.amount_minor
    else:
        # Covered by a fixed fee or retainer: the hours are shown, the fee line bills them.
        quantity, unit = hours(billed), "h"
        unit_amount = 0
        description += " (covered by fixed fee)" if rule.kind == "fixed_fee" else " (retainer)"
    amount = line_amount(quantity, unit_amount, currency)
    # Each entry's share of the line by billed time, adding up to the line exactly: what an
    # adjustment later reverses.
    weights = [b for _, b in group.entries]
    shares = (
        [m.amount for m in Money(amount, currency).allocate(weights)]
        if any(weights)
        else [0] * len(weights)
    )
    charges = tuple(
        EntryCharge(e.entry_id, e.version, e.duration_seconds, b, share)
        for (e, b), share in zip(group.entries, shares, strict=True)
    )
    return DraftLine(
        kind="time",
        description=description,
        quantity=quantity,
        unit=unit,
        unit_amount_minor=unit_amount,
        amount_minor=amount,
        project_id=group.project_id,
        member_id=group.member_id,
        task=group.task,
        tax=tax,
        raw_seconds=raw,
        billed_seconds=billed,
        rule=rule,
        entries=charges,
    )


def _charges(  # noqa: PLR0917
    rules: Sequence[RateRule],
    covering: Sequence[RateRule],
    client_id: UUID,
    period: Period | None,
    billed: set[tuple[UUID, date]],
    tax: Tax | None,
) -> list[DraftLine]:
    """Fixed fees of projects with time on this draft, and retainer months in the period."""
    lines: list[DraftLine] = []
    for rule in sorted({r.id: r for r in covering if r.kind == "fixed_fee"}.values(), key=_order):
        if fee_key(rule) not in billed:
            lines.append(_charge_line(rule, "fixed_fee", "Fixed fee", fee_key(rule), tax))
    if period is None:
        return lines
    for rule in sorted(rules, key=_order):
        if rule.kind != "monthly_retainer" or rule.client_id not in (None, client_id):
            continue
        for month in _months(period):
            key = (rule.id, month)
            if _overlaps(rule, month) and key not in billed:
                label = f"Retainer {month:%Y-%m}"
                lines.append(_charge_line(rule, "retainer", label, key, tax))
    return lines


def _order(rule: RateRule) -> tuple[date, UUID]:
    return (rule.effective_from, rule.id)


def _charge_line(
    rule: RateRule, kind: LineKind, label: str, key: tuple[UUID, date], tax: Tax | None
) -> DraftLine:
    description = f"{label}: {rule.description}" if rule.description else label
    return DraftLine(
        kind=kind,
        description=description,
        quantity=Decimal(1),
        unit="",
        unit_amount_minor=rule.amount_minor,
        amount_minor=rule.amount_minor,
        project_id=rule.project_id,
        tax=tax,
        rule=rule,
        charges=(key,),
    )


def _manual_line(m: ManualLine, currency: str) -> DraftLine:
    return DraftLine(
        kind="manual",
        description=m.description,
        quantity=m.quantity,
        unit=m.unit,
        unit_amount_minor=m.unit_amount_minor,
        amount_minor=line_amount(m.quantity, m.unit_amount_minor, currency),
        discount=m.discount,
        tax=m.tax,
    )


def _months(period: Period) -> list[date]:
    months = []
    month = period.start.replace(day=1)
    while month <= period.end:
        months.append(month)
        month = (month.replace(day=28) + _FOUR_DAYS).replace(day=1)
    return months


def _overlaps(rule: RateRule, month: date) -> bool:
    """The rule is in effect on some day of the month."""
    next_month = (month.replace(day=28) + _FOUR_DAYS).replace(day=1)
    starts_before_end = rule.effective_from < next_month
    ends_after_start = rule.effective_to is None or rule.effective_to >= month
    return starts_before_end and ends_after_start


@dataclass(frozen=True, slots=True)
class ManualLineRequest:
    description: str
    quantity: Decimal
    unit_amount_minor: int
    unit: str = ""
    discount: Discount | None = None
    tax_rate_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class TimeLineTerms:
    """A project's time lines on one draft: their own tax rate and/or discount."""

    project_id: UUID
    tax_rate_id: UUID | None = None
    discount: Discount | None = None


@dataclass(frozen=True, slots=True)
class DraftInvoice:
    """Command: draft one client's invoice from its unbilled time in a period, plus lines."""

    client_id: UUID
    period: Period | None
    group_by: GroupBy = "project"
    include_time: bool = True
    # None: the client's default tax rate.
    tax_rate_id: UUID | None = None
    discount: Discount | None = None
    lines: tuple[ManualLineRequest, ...] = ()
    notes: str | None = None
    billing_run_id: UUID | None = None
    # Per project: the tax and discount of its time lines (others take the draft's tax).
    time_terms: tuple[TimeLineTerms, ...] = ()


@dataclass(frozen=True, slots=True)
class BilledChange:
    """An entry on an issued invoice whose ledger state moved on since it was billed."""

    invoice_id: UUID
    invoice_number: str
    entry_id: UUID
    billed_seconds: int
    amount_minor: int
    new_version: int
    # The entry as it is now, when it is still billable time of this client; else None.
    now: UnbilledEntry | None
    # The billed line's tax: an adjustment is taxed as what it corrects.
    tax: Tax | None = None
    # A credit note has credited the billed line: it settled the line, so the change is not
    # adjusted again (that could credit twice).
    credited: bool = False


def plan_adjustments(
    changes: Sequence[BilledChange],
    rules: Sequence[RateRule],
    *,
    client_id: UUID,
    currency: str,
    tz: ZoneInfo,
) -> tuple[list[DraftLine], list[BilledChange], list[UUID]]:
    """Lines for the difference each change makes, the changes that bill no other time (just
    acknowledged), and entries with no rate for their new state.

    An adjustment reverses what the entry was billed (its share of its line after
    discounts) and bills its new billed time alone, at the rule in effect for its (new) date,
    taxed at the billed line's rate; a deleted, non-billable or moved entry is only
    reversed."""
    live = [c.now for c in changes if c.now is not None]
    repriced = plan_draft(
        live,
        rules,
        client_id=client_id,
        currency=currency,
        tz=tz,
        group_by="entry",
        tax=None,
        period=None,
    )
    priced = {e.entry_id: (line, e) for line in repriced.lines for e in line.entries}
    lines: list[DraftLine] = []
    unchanged: list[BilledChange] = []
    for change in changes:
        found = priced.get(change.entry_id)
        if change.now is not None and found is None:
            continue  # unpriced: reported through repriced.unpriced
        new_amount = found[1].amount_minor if found else 0
        new_billed = found[1].billed_seconds if found else 0
        if change.credited or (found and new_billed == change.billed_seconds):
            # Same billed time: issued work is not repriced (a rate changed since, or only the
            # description did).
            unchanged.append(change)
            continue
        delta = new_amount - change.amount_minor
        what = (
            f"{hours(change.billed_seconds)} h -> {hours(new_billed)} h"
            if found
            else "entry removed"
        )
        charge = found[1] if found else EntryCharge(change.entry_id, change.new_version, 0, 0, 0)
        lines.append(
            DraftLine(
                kind="adjustment",
                description=f"Adjustment to {change.invoice_number}: {what}",
                quantity=Decimal(1),
                unit="",
                unit_amount_minor=delta,
                amount_minor=delta,
                project_id=found[0].project_id if found else None,
                tax=change.tax,
                raw_seconds=found[1].raw_seconds if found else 0,
                billed_seconds=new_billed,
                rule=found[0].rule if found else None,
                entries=(charge,),
                adjusts_invoice_id=change.invoice_id,
                holds_entries=found is not None,
            )
        )
    return lines, unchanged, list(repriced.unpriced)
