"""What `loader load` and `loader run` print: one line per load, one summary per run
in which each finding appears once, in words (no "None rows, e.g. []")."""

from __future__ import annotations

import json


def format_load(r) -> str:
    if r.status == "skipped_file":
        return (f"{r.source_file}: already loaded into {r.target_table} "
                f"(load {r.previous_load_id}); nothing written. Use --force to load it again.")
    line = (
        f"{r.source_file} -> {r.target_table}: read {r.rows_read}, written {r.rows_written} "
        f"(new {r.inserted}, changed {r.updated}"
        f"{f', deleted {r.deleted}' if r.deleted else ''}), skipped {r.rows_skipped}"
        f"{strategy_note(r)}, "
        f"rejected {r.rows_rejected} in {r.seconds:.2f}s ({r.rows_per_second:,.0f} rows/s)"
    )
    return line + rejects_note(r) + snapshot_note(r)


def strategy_note(r) -> str:
    """' (7 already present)': an append's ids that raw held already."""
    existing = r.skipped_existing
    return f" ({existing} already present)" if existing else ""


def snapshot_note(r) -> str:
    """What a snapshot deleted, or (with rejected lines) kept."""
    if r.snapshot_kept:
        return (f"\n  snapshot not complete ({r.rows_rejected} rejected): {r.snapshot_kept} "
                "ids absent from it were kept, not deleted; fix the file and load it again")
    if r.snapshot_deleted:
        return f"\n  snapshot: {r.snapshot_deleted} ids absent from the file marked deleted"
    return ""


def rejects_note(r) -> str:
    """'; 7 lines rejected (load L): see them with `loader rejects L`', or ''."""
    if not r.rows_rejected:
        return ""
    lines = "line" if r.rows_rejected == 1 else "lines"
    return (f"\n  {r.rows_rejected} {lines} rejected (load {r.load_id}): "
            f"see them with `loader rejects {r.load_id}`")


def skipped_files_line(skipped: list) -> str:
    """Already-loaded files summed into one line (--verbose lists them)."""
    files = "file" if len(skipped) == 1 else "files"
    return (f"{len(skipped)} {files} already loaded, skipped "
            f"(--verbose lists them; --force on `loader load` reloads one)")


def _rows(n: int | None) -> str:
    return "" if n is None else f"{n} failing row" + ("" if n == 1 else "s")


def _samples(raw) -> str:
    try:
        keys = json.loads(raw) if isinstance(raw, str) else list(raw or [])
    except ValueError:
        keys = [raw]
    return f", e.g. {', '.join(str(k) for k in keys[:5])}" if keys else ""


def format_finding(name: str, severity: str, status: str, failing, samples) -> str:
    """'FAIL (error) check: 3 failing rows, e.g. a, b' / 'SKIPPED check'."""
    if status == "skipped" or failing is None:
        return f"{status.upper()} {name}"
    if name.startswith(("source_freshness_", "volume_")):  # sample_keys: the numbers
        numbers = json.loads(samples) if isinstance(samples, str) else []
        return f"{status.upper()} ({severity}) {name}" + (f": {numbers[0]}" if numbers else "")
    return f"{status.upper()} ({severity}) {name}: {_rows(failing)}{_samples(samples)}"


def _loads(report) -> list[str]:
    lines = ["", "== Loads"]
    per_source: dict[str, list[int]] = {}
    for r in report.loads:
        agg = per_source.setdefault(r.source_name, [0, 0, 0, 0, 0])
        for i, v in enumerate((r.rows_read, r.rows_written, r.rows_skipped, r.rows_rejected,
                               r.deleted)):
            agg[i] += v
    for name, (read, written, skipped, rejected, deleted) in per_source.items():
        lines.append(f"  {name}: read {read}, written {written}, skipped {skipped}, "
                     f"rejected {rejected}" + (f", deleted {deleted}" if deleted else ""))
    for r in report.loads:
        if r.rows_rejected:
            lines.append(f"  {r.source_file}: {rejects_note(r).strip()}")
    for err in report.load_errors:
        lines.append(f"  FAILED: {err}")
    for warning in report.warnings:
        lines.append(f"  WARNING: {warning}")
    return lines


def _dbt(report) -> list[str]:
    """Model and node counts; nodes that failed but are not DQ checks (those are
    listed once, under Data quality)."""
    dbt = report.dbt
    models = [n for n in dbt.nodes if "model" in n["resource_type"]]
    checks = {row[0] for row in report.dq_rows}
    lines = ["", f"== dbt build: {'ok' if dbt.success else 'FAILED'}, {len(models)} models, "
                 f"{len(dbt.nodes)} nodes"]
    for n in dbt.nodes:
        if n["status"] not in ("success", "pass", "no-op") and n["name"] not in checks:
            lines.append(f"  {n['status'].upper()} {n['resource_type'].split('.')[-1]} "
                         f"{n['name']}" + (f": {n['message']}" if n.get("message") else ""))
    if dbt.error:
        lines.append(f"  error: {dbt.error}")
    return lines


def format_report(report) -> str:
    lines = _loads(report)
    if report.dbt is not None:
        lines += _dbt(report)
    if report.dbt is None and not report.dq_rows and not report.schema_changes:
        return "\n".join(lines)
    lines += ["", "== Data quality"]
    for name, severity, status, failing, samples in report.dq_rows:
        if status != "pass":
            lines.append("  " + format_finding(name, severity, status, failing, samples))
    passed = sum(1 for r in report.dq_rows if r[2] == "pass")
    lines.append(f"  {passed} of {len(report.dq_rows)} checks passed")
    lines += ["", "== Schema changes (tables, and payload keys: key_*)"]
    for schema, table, change, column in report.schema_changes:
        lines.append(f"  {change}: {schema}.{table}" + (f".{column}" if column else ""))
    if not report.schema_changes:
        lines.append("  (none)")
    return "\n".join(lines)
