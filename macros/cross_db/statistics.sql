{#-
    analyze_relation(relation): post-hook of every curated and mart model:
    gives the planner statistics on the table the model just built.

    PostgreSQL: `analyze`. dbt creates and replaces these tables in the run, and
    autovacuum analyzes a new table only some time later (after its naptime,
    when it gets to it), so the next model would read tables without statistics.
    The planner then guesses: each equality filter (`is_deleted = 0`) on a
    table it has never analyzed keeps 0.5% of the rows, so fact_enrollment's
    aggregate in student_performance_summary is taken for 1 row (25,217 at
    1M submissions and 10,000 students) and dim_student and
    person_identity_map are joined to it in nested loops: 185.7 s instead of
    2.5 s. Whether autovacuum got there first decided between fast and slow.

    DuckDB keeps its statistics as it writes; SQL Server creates column
    statistics when a query first needs them (auto create statistics): both
    get nothing.
-#}
{% macro analyze_relation(relation) -%}
    {{ return(adapter.dispatch('analyze_relation', 'canvas_pipeline')(relation)) }}
{%- endmacro %}

{% macro default__analyze_relation(relation) -%}
{%- endmacro %}

{% macro postgres__analyze_relation(relation) -%}
    analyze {{ relation }}
{%- endmacro %}
