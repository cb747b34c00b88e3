{#-
    canvas_source(table_name): what a staging model reads from the `canvas`
    source. Without var('as_of') it is source('canvas', table_name) itself.
    With var('as_of') (a UTC timestamp, e.g. "2026-11-24 18:00:00") it is
    raw_as_of(table_name): the table as raw held it at that time, so a build
    with --vars '{as_of: ...}' (into its own target or schema) rebuilds
    staging, cur and mart as they were then.
-#}
{% macro canvas_source(table_name) -%}
    {%- if var('as_of', none) -%}
        {{ return(canvas_pipeline.raw_as_of(table_name, var('as_of'))) }}
    {%- else -%}
        {{ return(source('canvas', table_name)) }}
    {%- endif -%}
{%- endmacro %}


{#-
    raw_as_of(table_name, as_of): a subquery (with its alias) of the raw
    table's columns, one row per record key: the version current at as_of.
    That is the raw row if it was written at or before as_of, else the
    history row (raw.<table>__history, written by the loader) that was
    current then: ingested at or before as_of and superseded after it.
    Portable SQL (no CTE, no LIMIT), so it runs on every adapter.
    A record that `loader rollback` restored is current from the rollback on
    (it gets a new ingested_at); before the rolled-back load it is missing.
-#}
{% macro raw_as_of(table_name, as_of) -%}
    {%- set current = source('canvas', table_name) -%}
    {%- set history = canvas_pipeline.canvas_history(table_name) -%}
    {%- set columns = [] -%}
    {%- for column in var('canvas_contract')['raw_columns'] -%}
        {%- do columns.append(column[0]) -%}
    {%- endfor -%}
    {%- set at = canvas_pipeline.timestamp_literal(as_of) -%}
    (
        select {{ columns | join(', ') }}
        from {{ current }}
        where ingested_at <= {{ at }}
        union all
        select {{ columns | join(', ') }}
        from {{ history }}
        where ingested_at <= {{ at }} and superseded_at > {{ at }}
    ) as {{ table_name }}_as_of
{%- endmacro %}
