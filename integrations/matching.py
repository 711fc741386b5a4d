"""Identity matching: which account a record belongs to, decided set-wise for a whole page.

Order: the source's stored external id, then the record's domain(s), then a known contact's email,
then the domain of the record's contact email(s). Free-mail domains never match.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select

from cs_platform.bulk_writes import in_values
from cs_platform.extensions import db
from cs_platform.models import Account, Contact, ExternalId

FREE_MAIL = frozenset(
    {"gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com",
     "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.de", "web.de"}
)  # fmt: skip


@dataclass(frozen=True)
class MatchKeys:
    """What a record says about its account."""

    external_id: str | None = None  # the source's id of the account-level object
    domains: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()

    def describe(self, source: str) -> str:
        parts = []
        if self.external_id:
            parts.append(f"{source} id {self.external_id}")
        parts += [f"domain {domain}" for domain in self.domains]
        parts += [f"email {email}" for email in self.emails]
        return ", ".join(parts) or "no identifying fields"


def normalise_domain(value: str | None) -> str | None:
    """'https://www.Acme.com/about' -> 'acme.com'; None for blanks."""
    if not value or not isinstance(value, str):
        return None
    host = value.strip().lower().split("://")[-1].split("/")[0].split(":")[0]
    host = host.removeprefix("www.")
    return host or None


def email_domain(email: str) -> str | None:
    domain = normalise_domain(email.rpartition("@")[2]) if "@" in email else None
    return None if domain in FREE_MAIL else domain


def _unique(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Key -> account id, leaving out keys that point at more than one account."""
    seen: dict[str, set[int]] = defaultdict(set)
    for key, account_id in pairs:
        seen[key].add(account_id)
    return {key: ids.pop() for key, ids in seen.items() if len(ids) == 1}


def match_accounts(source: str, keys: list[MatchKeys]) -> list[int | None]:
    """The account id for each MatchKeys (None when nothing matches).

    A cascade of at most three queries, each only for the records still unmatched.
    """
    found: list[int | None] = [None] * len(keys)
    external_ids = {k.external_id for k in keys if k.external_id}
    if external_ids:
        by_external = lookup(
            ExternalId.external_id, ExternalId.account_id, external_ids, ExternalId.source == source
        )
        found = [by_external.get(k.external_id) if k.external_id else None for k in keys]
    rest = [i for i, account_id in enumerate(found) if account_id is None]
    emails = {e.lower() for i in rest for e in keys[i].emails}
    domains = {d for i in rest for d in keys[i].domains} | {
        d for e in emails if (d := email_domain(e)) is not None
    }
    by_domain = lookup(func.lower(Account.domain), Account.id, domains) if domains else {}
    by_email = lookup(func.lower(Contact.email), Contact.account_id, emails) if emails else {}
    for i in rest:
        found[i] = _first_match(keys[i], by_domain, by_email)
    return found


def lookup(key_column, account_column, values: set[str], *where) -> dict[str, int]:
    """Key -> account id for `values`, leaving out keys shared by several accounts."""
    rows = db.session.execute(
        select(key_column, account_column).where(in_values(key_column, values), *where)
    )
    return _unique(rows.all())


def _first_match(keys: MatchKeys, by_domain: dict, by_email: dict) -> int | None:
    for domain in keys.domains:
        if domain in by_domain:
            return by_domain[domain]
    for email in keys.emails:
        if email.lower() in by_email:
            return by_email[email.lower()]
    for email in keys.emails:
        email_at = email_domain(email.lower())
        if email_at in by_domain:
            return by_domain[email_at]
    return None
