"""`loader prune --older-than DAYS`: history past a retention period, dropped.

A version a rollback still needs is kept: one superseded by a load that is
still 'success' in meta.load_file (it can be rolled back). 'rolled_back'
versions are never needed. With force those go too, and the loads that lose
versions are marked as having no history (prior_state), so `loader rollback`
refuses them instead of restoring half of what they replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .. import contract

NEEDED = ("change_kind <> 'rolled_back' and superseded_by in (select load_id "
          "from meta.load_file where status = 'success')")


@dataclass
class Pruned:
    table: str
    dropped: int
    kept: int  # older than the period, but a rollback needs them


def prune(backend, days: float, force: bool = False, schema: str = "raw",
          only: str | None = None) -> list[Pruned]:
    """Drop history rows superseded more than days ago, in one transaction."""
    backend.begin()
    try:
        cutoff = backend.scalar(f"select {backend.now_sql()}") - timedelta(days=days)
        out = [_prune_table(backend, schema, name, cutoff, force)
               for name in sorted(backend.existing_tables(schema))
               if name.endswith(contract.HISTORY_SUFFIX)
               and (only is None or name == contract.history_name(only))]
        backend.commit()
    except BaseException:
        backend.rollback()
        raise
    return out


def _prune_table(backend, schema: str, name: str, cutoff, force: bool) -> Pruned:
    table, p = backend.table(schema, name), backend.param
    old = f"from {table} where superseded_at < {p}"
    needed = backend.scalar(f"select count(*) {old} and {NEEDED}", (cutoff,))
    if force and needed:
        backend.execute(
            "update meta.load_file set prior_state = replace(prior_state, "
            "'\"history\":true', '\"history\":false') where load_id in "
            f"(select superseded_by {old} and {NEEDED})", (cutoff,))
    condition = "" if force else f" and not ({NEEDED})"
    dropped = backend.scalar(f"select count(*) {old}{condition}", (cutoff,))
    if dropped:
        backend.execute(f"delete {old}{condition}", (cutoff,))
    return Pruned(f"{schema}.{name}", int(dropped), 0 if force else int(needed))
