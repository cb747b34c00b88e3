"""PostgreSQL: the tables dbt builds in cur and mart are analyzed as they are built.

Without it the planner reads a table dbt just created with no statistics
(autovacuum gets there later, or not before the next model), takes its
filtered aggregates for a row or two and joins them in nested loops:
mart.student_performance_summary ran for minutes at 1M submissions
(macros/cross_db/statistics.sql, README "Run against PostgreSQL").
"""

from __future__ import annotations

import pytest

TABLES = [
    ("cur", "fact_submission"),
    ("cur", "fact_enrollment"),
    ("cur", "dim_student"),
    ("mart", "student_performance_summary"),
]


@pytest.mark.engines("postgres")
def test_pg_statistics_curated_and_mart_tables_are_analyzed_by_the_build(env):
    env.cli("simulate", env.data, "--students", 20, "--courses", 2, "--silent")
    env.cli("run", "--data-dir", env.data, "-s", "+student_performance_summary", "--silent",
            expect=None)
    for schema, table in TABLES:
        rows = env.scalar(f"select count(*) from {schema}.{table}")
        assert rows > 0, (schema, table)
        # ANALYZE sets reltuples (a small table is read whole: the exact count);
        # a table created by `create table as` and never analyzed has -1.
        reltuples = env.scalar(
            "select c.reltuples from pg_class as c "
            "join pg_namespace as n on c.relnamespace = n.oid "
            "where n.nspname = ? and c.relname = ?", (schema, table), engine_specific=True)
        assert reltuples == rows, (schema, table, reltuples, rows)
        last_analyze = env.scalar(
            "select last_analyze from pg_stat_user_tables "
            "where schemaname = ? and relname = ?", (schema, table), engine_specific=True)
        assert last_analyze is not None, (schema, table)
