{#-
    canvas_is_incremental(): is_incremental(), except that with
    var('offline_compile') it is taken as true without asking the database
    (is_incremental() looks the relation up), so the compiled SQL shows the
    incremental branch and nothing runs at compile time.
-#}
{% macro canvas_is_incremental() -%}
    {%- if var('offline_compile', false) -%}
        {{ return(true) }}
    {%- else -%}
        {{ return(is_incremental()) }}
    {%- endif -%}
{%- endmacro %}


{#-
    ingested_after_watermark(column, this_column='ingested_at'): the filter
    that selects new work for an incremental curated model:

      - var('since_ingested_at') set: column >= that time (reprocess a window);
      - otherwise: column > the highest `this_column` the model already holds
        (1900-01-01 when the model is empty, e.g. built before the first load).

    The raw contract makes this safe: ingested_at is taken under the source's
    lock, never goes backwards within a table, and moves whenever a record is
    written. Only meaningful inside `if canvas_is_incremental()`.

    The watermark is read once, when the model is rendered for execution, and
    written into the SQL as a timestamp literal (see incremental_watermark):
    a constant comparison is pushed into the raw table scan (DuckDB prunes row
    groups by their min/max, PostgreSQL can use the ingested_at index), where
    a scalar subquery became a join that every raw row went through first.
-#}
{% macro ingested_after_watermark(column, this_column='ingested_at') -%}
    {{ return(adapter.dispatch('ingested_after_watermark', 'canvas_pipeline')(
        column, this_column)) }}
{%- endmacro %}

{% macro default__ingested_after_watermark(column, this_column) -%}
    {%- set since = var('since_ingested_at', none) -%}
    {%- if since -%}
        {{ column }} >= {{ canvas_pipeline.timestamp_literal(since) }}
    {%- else -%}
        {{ column }} > {{ canvas_pipeline.incremental_watermark(this_column) }}
    {%- endif -%}
{%- endmacro %}


{#-
    incremental_watermark(this_column='ingested_at'): max(this_column) of the
    model being built ({{ this }}), 1900-01-01 when it is empty, as SQL:

      - with a connection (dbt run/build/compile with execute): queried now
        and returned as a timestamp literal, to the microsecond. A value with
        more precision (SQL Server datetime2(7)) is cut to the microsecond,
        never rounded up, so the filter can only take a boundary row again,
        never miss one;
      - without (parsing, or var('offline_compile'), the SQL Server check):
        the scalar subquery itself, as the database would evaluate it.

    Safe to resolve early: the model is the only writer of {{ this }}, and a
    load that commits after this query only adds rows past the watermark.
-#}
{% macro incremental_watermark(this_column='ingested_at') -%}
    {%- set fallback = canvas_pipeline.timestamp_literal('1900-01-01 00:00:00') -%}
    {%- if execute and not var('offline_compile', false) -%}
        {%- set result = run_query(
            'select max(' ~ this_column ~ ') as watermark from ' ~ this
        ) -%}
        {%- set value = result.rows[0][0] if result is not none and result.rows | length > 0
            else none -%}
        {%- if value is none -%}
            {{ return(fallback) }}
        {%- elif value is string -%}
            {{ return(canvas_pipeline.timestamp_literal(value)) }}
        {%- else -%}
            {%- if value.tzinfo is not none -%}
                {%- set value = value.astimezone(modules.pytz.utc) -%}
            {%- endif -%}
            {{ return(canvas_pipeline.timestamp_literal(
                value.strftime('%Y-%m-%d %H:%M:%S.%f'))) }}
        {%- endif -%}
    {%- else -%}
        {{ return(
            '(select coalesce(max(watermark_source.' ~ this_column ~ '), '
            ~ fallback ~ ') from ' ~ this ~ ' as watermark_source)'
        ) }}
    {%- endif -%}
{%- endmacro %}


{#-
    canvas_snapshot_exists(): inside a snapshot, whether its table exists
    already (so the query may select only what is new); taken as true with
    var('offline_compile'), like canvas_is_incremental().
-#}
{% macro canvas_snapshot_exists() -%}
    {%- if var('offline_compile', false) -%}
        {{ return(true) }}
    {%- elif not execute -%}
        {{ return(false) }}
    {%- else -%}
        {{ return(adapter.get_relation(
            database=this.database, schema=this.schema, identifier=this.identifier
        ) is not none) }}
    {%- endif -%}
{%- endmacro %}
