"""Saved views of the risk list: save, rename, share, delete, check, and count them.

A view stores the list's filters and sort as a normalised query string (the list's own
canonical arguments, sorted, page left out), so opening it is a redirect to the list. A view
may outlive what its filters name (an owner deleted, a list removed): `filter_problems` names
each filter that no longer applies and the view opens without it.

The counts of the views a user sees are one statement: the live book (with the band in force)
read once, and one conditional sum per view over it, the conditions the list itself uses
(`risk.view_conditions`). At most `MAX_VIEWS` views are counted.

Services flush; the request commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import partial
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, selectinload

from cs_platform.accounts.models import SavedView
from cs_platform.accounts.risk import (
    SORT_COLUMNS,
    VIEWS,
    FilterColumns,
    RiskFilters,
    ScoringDays,
    active_overrides,
    risk_values,
    view_conditions,
)
from cs_platform.audit import record_audit
from cs_platform.extensions import db
from cs_platform.models import Account, AccountList, User, utcnow
from scoring.models import HealthScore

MAX_VIEWS = 50  # views listed (and counted) for one user: their own first, then shared ones
KNOWN_ARGS = (
    *("view", "q", "owner", "segment", "band", "renewal_within", "detractor", "list"),
    *("sort", "dir"),
)
# Arguments the list's canonical form may leave out (defaults), and their valid values.
DEFAULT_OK = {
    "view": lambda value: value in VIEWS,
    "sort": lambda value: value in SORT_COLUMNS,
    "dir": lambda value: value in ("asc", "desc"),
}


class ViewError(Exception):
    """A view change that cannot be made; the message is shown to the user."""


class ViewExistsError(ViewError):
    """The owner has a view of that name already (saving again asks to replace it)."""


def normalised_query(args: object) -> str:
    """The risk list's filters and sort in `args` as a canonical query string, page left out."""
    filters = RiskFilters.from_args(args)
    return urlencode(sorted((key, str(value)) for key, value in filters.args(page=1).items()))


def filter_problems(query: str) -> dict[str, str]:
    """Each filter of a stored query that no longer applies, by name, with why (an unknown
    argument, a value the list no longer reads, an owner or list deleted since)."""
    args = dict(parse_qsl(query, keep_blank_values=True))
    kept = {key: str(value) for key, value in RiskFilters.from_args(args).args().items()}
    problems = {}
    for key, value in args.items():
        if key not in KNOWN_ARGS:
            problems[key] = f"“{key}” is not a filter of the risk list"
        elif not DEFAULT_OK.get(key, lambda _: False)(value) and kept.get(key) != value:
            problems[key] = f"“{value}” is not a valid value of {key}"
    owner, list_id = kept.get("owner", ""), kept.get("list")
    if owner.isdecimal() and db.session.get(User, int(owner)) is None:
        problems["owner"] = f"the owner (user {owner}) no longer exists"
    if list_id and db.session.get(AccountList, int(list_id)) is None:
        problems["list"] = f"the account list {list_id} no longer exists"
    return problems


def usable_args(query: str) -> dict[str, str]:
    """The stored query's arguments without those `filter_problems` names."""
    problems = filter_problems(query)
    return {key: value for key, value in parse_qsl(query) if key not in problems}


def may_manage(user: User, view: SavedView) -> bool:
    """Owners rename, share and delete their views; admins anyone's."""
    return user.role == "admin" or view.owner_id == user.id


def may_open(user: User, view: SavedView) -> bool:
    return view.shared or may_manage(user, view)


def visible_views(user: User) -> list[SavedView]:
    """The user's own views, then the others' shared ones, by name (at most MAX_VIEWS)."""
    mine = SavedView.owner_id == user.id
    query = (
        select(SavedView)
        .where(or_(mine, SavedView.shared))
        .options(selectinload(SavedView.owner))
        .order_by(case((mine, 0), else_=1), func.lower(SavedView.name), SavedView.id)
        .limit(MAX_VIEWS)
    )
    return list(db.session.scalars(query))


def save_view(user: User, name: str, query: str, replace: bool = False) -> SavedView:
    """Save the filters `query` under `name`; a view of that name is replaced only when
    `replace` (else ViewExistsError)."""
    name = name.strip()
    existing = db.session.scalar(
        select(SavedView).where(SavedView.owner_id == user.id, SavedView.name == name)
    )
    if existing is not None:
        if not replace:
            raise ViewExistsError(f"You have a view named “{name}” already.")
        existing.query_string, existing.updated_at = query, utcnow()
        db.session.flush()
        return existing
    view = SavedView(owner_id=user.id, name=name, query_string=query)
    db.session.add(view)
    _flush_unique(name)
    return view


def rename_view(view: SavedView, name: str) -> None:
    view.name = name.strip()
    _flush_unique(view.name)


def _flush_unique(name: str) -> None:
    """Flush, turning the owner's unique name into a readable error (a concurrent save)."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as error:
        raise ViewExistsError(f"You have a view named “{name}” already.") from error


def share_view(view: SavedView, shared: bool, actor: User) -> None:
    """Share the view with everyone, or stop sharing it (audited: others see it)."""
    view.shared = shared
    action = "saved_view.shared" if shared else "saved_view.unshared"
    record_audit(
        action, f"saved_view:{view.id}", {"name": view.name, "query": view.query_string}, actor
    )
    db.session.flush()


def delete_view(view: SavedView, actor: User) -> None:
    if view.shared or view.owner_id != actor.id:
        details = {"name": view.name, "owner_id": view.owner_id}
        record_audit("saved_view.deleted", f"saved_view:{view.id}", details, actor)
    db.session.delete(view)
    db.session.flush()


def view_counts(views: Sequence[SavedView], user_id: int, today: dt.date) -> dict[int, int | None]:
    """How many accounts each view lists now for the user `user_id` ("me" is the reader), in
    one statement; None for a view whose filters no longer all apply."""
    days = ScoringDays.latest()
    book = _live_book(days, today)
    cols = FilterColumns(
        book.c.id,
        book.c.name,
        book.c.domain,
        book.c.owner_id,
        book.c.segment,
        book.c.renewal_date,
        book.c.band,
    )
    counted = [view for view in views[:MAX_VIEWS] if not filter_problems(view.query_string)]
    sums = []
    for view in counted:
        filters = RiskFilters.from_args(dict(parse_qsl(view.query_string)))
        values = risk_values(filters, user_id, today, days)
        conditions = view_conditions(filters.shape(), cols, partial(_literal, values))
        matches = and_(*conditions) if conditions else literal(True)
        sums.append(func.coalesce(func.sum(case((matches, 1), else_=0)), 0))
    counts: dict[int, int | None] = {view.id: None for view in views}
    if sums:
        row = db.session.execute(select(*sums).select_from(book)).one()
        counts.update({view.id: int(count) for view, count in zip(counted, row, strict=True)})
    return counts


def _literal(values: dict[str, object], name: str):
    return literal(values[name])


def _live_book(days: ScoringDays, today: dt.date):
    """Every live account with the columns filters read and its band in force."""
    latest = aliased(HealthScore)
    override = active_overrides(today)
    return (
        select(
            Account.id,
            Account.name,
            Account.domain,
            Account.owner_id,
            Account.segment,
            Account.renewal_date,
            func.coalesce(override.c.band, latest.band).label("band"),
        )
        .outerjoin(latest, (latest.account_id == Account.id) & (latest.scored_on == days.health))
        .outerjoin(override, override.c.account_id == Account.id)
        .where(Account.churned_at.is_(None))
        .subquery("book")
    )
