"""Which rate rule prices a time entry: most specific scope, then latest, then created last."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoicing.domain.rates import RateKind, RateRule, Scope, resolve

TENANT = UUID(int=1)
CLIENT, OTHER_CLIENT = UUID(int=10), UUID(int=11)
PROJECT, OTHER_PROJECT = UUID(int=20), UUID(int=21)
MEMBER, OTHER_MEMBER = UUID(int=30), UUID(int=31)
DAY = date(2024, 6, 15)
CREATED = datetime(2024, 1, 1, tzinfo=UTC)
SCOPES: list[Scope] = ["tenant", "client", "project", "member_on_project"]
RANK: dict[Scope, int] = {scope: rank for rank, scope in enumerate(SCOPES)}

_ids = iter(range(1000, 10**9))


def rule(
    scope: Scope = "tenant",
    *,
    id: UUID | None = None,
    kind: RateKind = "hourly",
    currency: str = "EUR",
    amount_minor: int = 10_000,
    effective_from: date = date(2024, 1, 1),
    effective_to: date | None = None,
    created_at: datetime = CREATED,
    client_id: UUID = CLIENT,
    project_id: UUID = PROJECT,
    member_id: UUID = MEMBER,
) -> RateRule:
    """A rule of `scope` for the given client/project/member (ids above the scope unset)."""
    rank = RANK[scope]
    return RateRule(
        tenant_id=TENANT,
        id=id or UUID(int=next(_ids)),
        kind=kind,
        client_id=client_id if rank >= RANK["client"] else None,
        project_id=project_id if rank >= RANK["project"] else None,
        member_id=member_id if rank >= RANK["member_on_project"] else None,
        currency=currency,
        amount_minor=amount_minor,
        hours_per_day=Decimal(8),
        effective_from=effective_from,
        effective_to=effective_to,
        description="",
        version=1,
        created_at=created_at,
        updated_at=created_at,
    )


def pick(rules: list[RateRule], *, currency: str = "EUR", day: date = DAY) -> RateRule | None:
    return resolve(
        rules,
        currency=currency,
        client_id=CLIENT,
        project_id=PROJECT,
        member_id=MEMBER,
        day=day,
    )


past_days = st.dates(date(2020, 1, 1), DAY)
created = st.datetimes(datetime(2023, 1, 1), datetime(2024, 6, 1), timezones=st.just(UTC))


@st.composite
def applicable_rules(draw: st.DrawFn, scope: Scope) -> RateRule:
    to = draw(st.none() | st.dates(DAY, date(2030, 1, 1)))
    return rule(scope, effective_from=draw(past_days), effective_to=to, created_at=draw(created))


@st.composite
def one_per_scope(draw: st.DrawFn) -> list[RateRule]:
    scopes = draw(st.sets(st.sampled_from(SCOPES), min_size=1))
    rules = [draw(applicable_rules(scope)) for scope in scopes]
    return draw(st.permutations(rules))


@settings(max_examples=150)
@given(one_per_scope())
def test_the_most_specific_scope_wins_whatever_the_order(rules: list[RateRule]) -> None:
    winner = pick(rules)

    assert winner is not None
    assert winner.scope == max((r.scope for r in rules), key=RANK.__getitem__)


@st.composite
def decoys(draw: st.DrawFn) -> RateRule:
    """A rule that is more specific and newer than any applicable one, but does not apply."""
    scope = draw(st.sampled_from(SCOPES))
    late = datetime(2024, 12, 1, tzinfo=UTC)
    reason = draw(st.sampled_from(["future", "ended", "currency", "client", "project", "member"]))
    if reason == "future":
        return rule(scope, effective_from=draw(st.dates(DAY + timedelta(1))), created_at=late)
    if reason == "ended":
        ended = draw(st.dates(date(2024, 6, 1), DAY - timedelta(1)))
        return rule(scope, effective_from=date(2024, 6, 1), effective_to=ended, created_at=late)
    if reason == "currency":
        currency = draw(st.sampled_from(["JPY", "KWD"]))
        return rule(scope, currency=currency, effective_from=DAY, created_at=late)
    if reason == "client":
        return rule(
            draw(st.sampled_from(SCOPES[1:])),
            client_id=OTHER_CLIENT,
            effective_from=DAY,
            created_at=late,
        )
    if reason == "project":
        return rule(
            draw(st.sampled_from(SCOPES[2:])),
            project_id=OTHER_PROJECT,
            effective_from=DAY,
            created_at=late,
        )
    return rule("member_on_project", member_id=OTHER_MEMBER, effective_from=DAY, created_at=late)


@st.composite
def mixed(draw: st.DrawFn) -> tuple[list[RateRule], list[RateRule]]:
    valid = draw(st.lists(st.sampled_from(SCOPES).flatmap(applicable_rules), max_size=4))
    bad = draw(st.lists(decoys(), min_size=1, max_size=8))
    return valid, draw(st.permutations(valid + bad))


@settings(max_examples=150)
@given(mixed())
def test_rules_not_applying_never_win(case: tuple[list[RateRule], list[RateRule]]) -> None:
    valid, everything = case

    assert pick(everything) == pick(valid)
    assert pick([r for r in everything if r not in valid]) is None
    if not valid:
        assert pick(everything) is None


rule_pool = st.builds(
    rule,
    st.sampled_from(SCOPES),
    id=st.integers(1, 6).map(lambda n: UUID(int=n)),
    currency=st.sampled_from(["EUR", "EUR", "JPY"]),
    effective_from=st.dates(date(2024, 6, 10), date(2024, 6, 20)),
    effective_to=st.none() | st.dates(date(2024, 6, 10), date(2024, 6, 20)),
    created_at=st.sampled_from([CREATED, CREATED + timedelta(hours=1)]),
    client_id=st.sampled_from([CLIENT, OTHER_CLIENT]),
    project_id=st.sampled_from([PROJECT, OTHER_PROJECT]),
    member_id=st.sampled_from([MEMBER, OTHER_MEMBER]),
)


def applies(r: RateRule) -> bool:
    return (
        r.currency == "EUR"
        and r.effective_from <= DAY
        and (r.effective_to is None or r.effective_to >= DAY)
        and r.client_id in (None, CLIENT)
        and r.project_id in (None, PROJECT)
        and r.member_id in (None, MEMBER)
    )


def precedence(r: RateRule) -> tuple[int, date, datetime, UUID]:
    return (RANK[r.scope], r.effective_from, r.created_at, r.id)


@settings(max_examples=100)
@given(
    st.lists(rule_pool, max_size=10, unique_by=lambda r: r.id).flatmap(
        lambda rs: st.tuples(st.just(rs), st.permutations(rs))
    )
)
def test_the_winner_applies_and_no_applicable_rule_takes_precedence(
    case: tuple[list[RateRule], list[RateRule]],
) -> None:
    rules, shuffled = case
    winner = pick(rules)

    candidates = [r for r in rules if applies(r)]
    if not candidates:
        assert winner is None
        return
    assert winner is not None
    assert applies(winner)
    assert all(precedence(r) <= precedence(winner) for r in candidates)
    assert pick(shuffled) == winner


def test_within_a_scope_the_rule_taking_effect_last_wins() -> None:
    older = rule("project", effective_from=date(2024, 1, 1), created_at=CREATED + timedelta(9))
    newer = rule("project", effective_from=date(2024, 6, 1), created_at=CREATED)

    assert pick([older, newer]) == newer
    assert pick([newer, older]) == newer
    assert pick([older, newer], day=date(2024, 5, 31)) == older


def test_a_tie_on_the_day_goes_to_the_rule_created_last() -> None:
    first = rule("client", id=UUID(int=9), created_at=CREATED)
    second = rule("client", id=UUID(int=2), created_at=CREATED + timedelta(seconds=1))

    assert pick([first, second]) == second
    assert pick([second, first]) == second


def test_a_full_tie_goes_to_the_greater_id() -> None:
    low, high = rule("client", id=UUID(int=2)), rule("client", id=UUID(int=9))

    assert pick([low, high]) == high
    assert pick([high, low]) == high


def test_a_newer_less_specific_rule_does_not_beat_an_older_specific_one() -> None:
    project = rule("project", effective_from=date(2020, 1, 1), created_at=CREATED)
    tenant = rule("tenant", effective_from=DAY, created_at=CREATED + timedelta(99))

    assert pick([tenant, project]) == project


@pytest.mark.parametrize(
    ("effective_from", "effective_to", "in_effect"),
    [
        (DAY, None, True),
        (DAY, DAY, True),
        (DAY - timedelta(1), DAY - timedelta(1), False),
        (DAY + timedelta(1), None, False),
        (date(2024, 1, 1), DAY, True),
    ],
)
def test_effective_dates_are_inclusive(
    effective_from: date, effective_to: date | None, in_effect: bool
) -> None:
    r = rule(effective_from=effective_from, effective_to=effective_to)

    assert r.in_effect_on(DAY) is in_effect
    assert (pick([r]) == r) is in_effect


def test_a_rule_in_another_currency_is_not_picked() -> None:
    r = rule("member_on_project", currency="KWD")

    assert pick([r]) is None
    assert pick([r], currency="KWD") == r


@pytest.mark.parametrize("scope", SCOPES)
def test_scope_follows_the_ids_set(scope: Scope) -> None:
    assert rule(scope).scope == scope


def test_no_rules_no_rate() -> None:
    assert pick([]) is None
