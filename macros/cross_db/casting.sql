{#-
    Lenient casts from text: a value that does not parse becomes NULL (and
    shows up in a not_null / accepted-values check) instead of failing the
    whole build. duckdb and sqlserver have try_cast; postgres gets a regex
    guard in front of a plain cast.
-#}

{#- to_bigint(expr): text -> bigint, NULL when it is not an integer. -#}
{% macro to_bigint(expr) -%}
    {{ return(adapter.dispatch('to_bigint', 'canvas_pipeline')(expr)) }}
{%- endmacro %}

{#- default (sqlserver): try_cast rejects '12.5' and '1e3' for bigint. -#}
{% macro default__to_bigint(expr) -%}
    try_cast({{ expr }} as {{ dbt.type_bigint() | lower }})
{%- endmacro %}

{#- duckdb: try_cast would round '12.5' to 13; accept integers only, like
    the other engines. -#}
{% macro duckdb__to_bigint(expr) -%}
    case
        when regexp_full_match({{ expr }}, '\s*-?[0-9]{1,18}\s*')
            then try_cast({{ expr }} as bigint)
    end
{%- endmacro %}

{% macro postgres__to_bigint(expr) -%}
    case
        when {{ expr }} ~ '^\s*-?[0-9]{1,18}\s*$'
            then cast({{ expr }} as bigint)
    end
{%- endmacro %}


{#- to_numeric(expr): text -> numeric(28,6), NULL when it is not a number.
    A JSON number may use an exponent (1.5e2); sqlserver and duckdb cannot
    cast that to decimal directly, so they fall back to going through float. -#}
{% macro to_numeric(expr) -%}
    {{ return(adapter.dispatch('to_numeric', 'canvas_pipeline')(expr)) }}
{%- endmacro %}

{% macro default__to_numeric(expr) -%}
    coalesce(
        try_cast({{ expr }} as {{ dbt.type_numeric() }}),
        try_cast(try_cast({{ expr }} as {{ dbt.type_float() | lower }}) as {{ dbt.type_numeric() }})
    )
{%- endmacro %}

{% macro postgres__to_numeric(expr) -%}
    case
        when {{ expr }} ~ '^\s*-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$'
            then cast({{ expr }} as {{ dbt.type_numeric() }})
    end
{%- endmacro %}


{#- cast_string(expr): any scalar -> text. Used for sample keys and the
    canonical input of hash_key. sqlserver: nvarchar so Unicode survives. -#}
{% macro cast_string(expr) -%}
    {{ return(adapter.dispatch('cast_string', 'canvas_pipeline')(expr)) }}
{%- endmacro %}

{% macro default__cast_string(expr) -%}
    cast({{ expr }} as {{ dbt.type_string() }})
{%- endmacro %}

{% macro sqlserver__cast_string(expr) -%}
    cast({{ expr }} as nvarchar(4000))
{%- endmacro %}
