{#-
    parse_timestamp_utc(expr): an ISO-8601 string ('2026-01-12T06:00:00Z',
    '2026-01-12T00:00:00-06:00', fractional seconds allowed) -> a naive
    timestamp in UTC (timestamp / timestamp / datetime2(6)). A string without
    an offset is taken as UTC on every engine. Unparsable input -> NULL.
-#}
{% macro parse_timestamp_utc(expr) -%}
    {{ return(adapter.dispatch('parse_timestamp_utc', 'canvas_pipeline')(expr)) }}
{%- endmacro %}

{% macro default__parse_timestamp_utc(expr) -%}
    {{ exceptions.raise_compiler_error(
        "parse_timestamp_utc: no implementation for adapter " ~ adapter.type()) }}
{%- endmacro %}

{#- duckdb: the profile sets TimeZone=UTC, so a string without an offset is
    read as UTC; `at time zone 'UTC'` turns the timestamptz into a naive UTC
    timestamp whatever the session zone. -#}
{% macro duckdb__parse_timestamp_utc(expr) -%}
    (try_cast({{ expr }} as timestamptz) at time zone 'UTC')
{%- endmacro %}

{#- postgres: a string with Z/offset goes through timestamptz; one without
    is cast to timestamp directly, so the session TimeZone never matters.
    The regex guard keeps bad input from failing the query. -#}
{% macro postgres__parse_timestamp_utc(expr) -%}
    {%- set date_part = '[0-9]{4}-[0-9]{2}-[0-9]{2}' -%}
    {%- set time_part = '[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?' -%}
    {%- set offset_part = '(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)' -%}
    case
        when {{ expr }} ~ '^{{ date_part }}{{ time_part }}{{ offset_part }}$'
            then (cast({{ expr }} as timestamptz) at time zone 'UTC')
        when {{ expr }} ~ '^{{ date_part }}({{ time_part }})?$'
            then cast({{ expr }} as timestamp)
    end
{%- endmacro %}

{#- sqlserver: style 127 is ISO-8601 with 'Z' or a numeric offset;
    SWITCHOFFSET to +00:00, then drop the offset. -#}
{% macro sqlserver__parse_timestamp_utc(expr) -%}
    convert(
        datetime2(6),
        switchoffset(try_convert(datetimeoffset(6), {{ expr }}, 127), '+00:00')
    )
{%- endmacro %}


{#- timestamp_literal('2026-01-01T00:00:00'): a constant naive timestamp. -#}
{% macro timestamp_literal(value) -%}
    {{ return(adapter.dispatch('timestamp_literal', 'canvas_pipeline')(value)) }}
{%- endmacro %}

{% macro default__timestamp_literal(value) -%}
    cast('{{ value }}' as {{ dbt.type_timestamp() | lower }})
{%- endmacro %}
