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
        {{ column }} > (
            select coalesce(
                max(watermark_source.{{ this_column }}),
                {{ canvas_pipeline.timestamp_literal('1900-01-01 00:00:00') }}
            )
            from {{ this }} as watermark_source
        )
    {%- endif -%}
{%- endmacro %}
