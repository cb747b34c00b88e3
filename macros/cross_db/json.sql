{#-
    JSON access on the raw `payload` column (duckdb: json, postgres: jsonb,
    sqlserver: nvarchar(max)).

    `path` is a dotted member path without the leading `$.`, e.g. 'id' or
    'grades.current_score'. Member names must be plain identifiers (no dots,
    quotes or array indexes): every path used by the staging models is.

    Every macro returns NULL for a missing member and for JSON null, on every
    engine, so the staging views hold the same values everywhere.
-#}

{#- Private: 'a.b' -> ['a', 'b'] -#}
{% macro _json_path_parts(path) -%}
    {{ return(path.split('.')) }}
{%- endmacro %}

{#- Private: 'a.b' -> '$.a.b' (duckdb and sqlserver JSON path syntax) -#}
{% macro _json_path_literal(path) -%}
    {{ return("'$." ~ path ~ "'") }}
{%- endmacro %}

{#- Private: 'a.b' -> 'a', 'b' (postgres jsonb_extract_path arguments) -#}
{% macro _json_path_args(path) -%}
    {%- set quoted = [] -%}
    {%- for part in canvas_pipeline._json_path_parts(path) -%}
        {%- do quoted.append("'" ~ part ~ "'") -%}
    {%- endfor -%}
    {{ return(quoted | join(', ')) }}
{%- endmacro %}


{#- json_value(column, path): the scalar at `path` as text.
    Strings come back unquoted, numbers as written, booleans as 'true'/'false';
    objects and arrays are NOT scalars (use json_array_join/json_array_length).
    sqlserver: JSON_VALUE in lax mode returns NULL for a string longer than
    4000 characters, so long free-text fields (descriptions, bodies) are not
    parsed by the staging models. -#}
{% macro json_value(column, path) -%}
    {{ return(adapter.dispatch('json_value', 'canvas_pipeline')(column, path)) }}
{%- endmacro %}

{#- default (sqlserver and any SQL/JSON engine): JSON_VALUE, lax mode. -#}
{% macro default__json_value(column, path) -%}
    json_value({{ column }}, {{ canvas_pipeline._json_path_literal(path) }})
{%- endmacro %}

{% macro duckdb__json_value(column, path) -%}
    json_extract_string({{ column }}, {{ canvas_pipeline._json_path_literal(path) }})
{%- endmacro %}

{% macro postgres__json_value(column, path) -%}
    jsonb_extract_path_text(
        cast({{ column }} as jsonb), {{ canvas_pipeline._json_path_args(path) }}
    )
{%- endmacro %}

{#- json_int(column, path): the value at `path` as bigint (NULL if not an integer). -#}
{% macro json_int(column, path) -%}
    {{ return(adapter.dispatch('json_int', 'canvas_pipeline')(column, path)) }}
{%- endmacro %}

{% macro default__json_int(column, path) -%}
    {{ canvas_pipeline.to_bigint(canvas_pipeline.json_value(column, path)) }}
{%- endmacro %}


{#- json_number(column, path): the value at `path` as numeric(28,6)
    (NULL if not a number). -#}
{% macro json_number(column, path) -%}
    {{ return(adapter.dispatch('json_number', 'canvas_pipeline')(column, path)) }}
{%- endmacro %}

{% macro default__json_number(column, path) -%}
    {{ canvas_pipeline.to_numeric(canvas_pipeline.json_value(column, path)) }}
{%- endmacro %}


{#- json_bool(column, path): a JSON boolean as a 0/1 integer flag (SQL Server
    has no boolean type, and an int flag can be summed). Also accepts the
    strings "true"/"false" (Canvas documents `redo_request` as the string
    "true") and 1/0. Anything else is NULL. -#}
{% macro json_bool(column, path) -%}
    {{ return(adapter.dispatch('json_bool', 'canvas_pipeline')(column, path)) }}
{%- endmacro %}

{% macro default__json_bool(column, path) -%}
    cast(
        case lower({{ canvas_pipeline.json_value(column, path) }})
            when 'true' then 1
            when '1' then 1
            when 'false' then 0
            when '0' then 0
        end
        as {{ dbt.type_int() | lower }}
    )
{%- endmacro %}


{#- json_array_length(column, path): number of elements of the array at
    `path`; NULL when the member is missing or not an array. -#}
{% macro json_array_length(column, path) -%}
    {{ return(adapter.dispatch('json_array_length', 'canvas_pipeline')(
        column, path)) }}
{%- endmacro %}

{% macro default__json_array_length(column, path) -%}
    {{ exceptions.raise_compiler_error(
        "json_array_length: no implementation for adapter " ~ adapter.type()) }}
{%- endmacro %}

{% macro duckdb__json_array_length(column, path) -%}
    case
        when
            json_type({{ column }}, {{ canvas_pipeline._json_path_literal(path) }})
            = 'ARRAY'
            then cast(
                json_array_length({{ column }}, {{ canvas_pipeline._json_path_literal(path) }})
                as {{ dbt.type_int() | lower }}
            )
    end
{%- endmacro %}

{% macro postgres__json_array_length(column, path) -%}
    {%- set element -%}
        jsonb_extract_path(
            cast({{ column }} as jsonb), {{ canvas_pipeline._json_path_args(path) }}
        )
    {%- endset -%}
    case
        when jsonb_typeof({{ element }}) = 'array'
            then jsonb_array_length({{ element }})
    end
{%- endmacro %}

{% macro sqlserver__json_array_length(column, path) -%}
    case
        when left(
            json_query({{ column }}, {{ canvas_pipeline._json_path_literal(path) }}), 1
        ) = '['
            then (
                select count(*)
                from openjson({{ column }}, {{ canvas_pipeline._json_path_literal(path) }})
            )
    end
{%- endmacro %}


{#- json_array_join(column, path, separator=','): the elements of the array
    of scalars at `path`, in array order, joined by `separator`; NULL when the
    member is missing, not an array, or empty. -#}
{% macro json_array_join(column, path, separator=',') -%}
    {{ return(adapter.dispatch('json_array_join', 'canvas_pipeline')(
        column, path, separator)) }}
{%- endmacro %}

{% macro default__json_array_join(column, path, separator) -%}
    {{ exceptions.raise_compiler_error(
        "json_array_join: no implementation for adapter " ~ adapter.type()) }}
{%- endmacro %}

{% macro duckdb__json_array_join(column, path, separator) -%}
    case
        when
            json_type({{ column }}, {{ canvas_pipeline._json_path_literal(path) }})
            = 'ARRAY'
            then nullif(
                array_to_string(
                    from_json(
                        json_extract({{ column }}, {{ canvas_pipeline._json_path_literal(path) }}),
                        '["VARCHAR"]'
                    ),
                    '{{ separator }}'
                ),
                ''
            )
    end
{%- endmacro %}

{% macro postgres__json_array_join(column, path, separator) -%}
    {%- set element -%}
        jsonb_extract_path(
            cast({{ column }} as jsonb), {{ canvas_pipeline._json_path_args(path) }}
        )
    {%- endset -%}
    (
        select nullif(string_agg(array_element.value, '{{ separator }}'
            order by array_element.ordinality), '')
        from jsonb_array_elements_text(
            case when jsonb_typeof({{ element }}) = 'array' then {{ element }} end
        ) with ordinality as array_element (value, ordinality)
    )
{%- endmacro %}

{% macro sqlserver__json_array_join(column, path, separator) -%}
    case
        when left(
            json_query({{ column }}, {{ canvas_pipeline._json_path_literal(path) }}), 1
        ) = '['
            then (
                select nullif(
                    string_agg(cast(array_element.[value] as nvarchar(max)), '{{ separator }}')
                        within group (order by cast(array_element.[key] as int)),
                    ''
                )
                from openjson({{ column }}, {{ canvas_pipeline._json_path_literal(path) }})
                    as array_element
            )
    end
{%- endmacro %}


{#- json_record(column): the record inside a raw payload. A Canvas Data 2
    envelope ({"key": ..., "value": {...}, "meta": ...}) holds it under `value`;
    a plain record (Canvas REST, the simulator) is the payload itself. The
    staging models read every field from this, so one model serves both shapes
    (no Canvas REST object the project reads has a top-level `value` object). -#}
{% macro json_record(column) -%}
    {{ return(adapter.dispatch('json_record', 'canvas_pipeline')(column)) }}
{%- endmacro %}

{#- default (sqlserver): JSON_QUERY is NULL when `value` is missing or not an object. -#}
{% macro default__json_record(column) -%}
    coalesce(json_query({{ column }}, '$.value'), {{ column }})
{%- endmacro %}

{% macro duckdb__json_record(column) -%}
    case
        when json_type({{ column }}, '$.value') = 'OBJECT'
            then json_extract({{ column }}, '$.value')
        else cast({{ column }} as json)
    end
{%- endmacro %}

{% macro postgres__json_record(column) -%}
    case
        when jsonb_typeof(cast({{ column }} as jsonb) -> 'value') = 'object'
            then cast({{ column }} as jsonb) -> 'value'
        else cast({{ column }} as jsonb)
    end
{%- endmacro %}
