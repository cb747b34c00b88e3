{#-
    hash_key(columns, null_if_any_null=false): the deterministic surrogate key
    of a natural key, IDENTICAL on duckdb, postgres and sqlserver:

        lowercase hex( sha256( utf8( part_1 || '|' || part_2 ... ) ) )

    where each part is cast_string(column) and NULL becomes ''. Only pass
    columns whose text form is the same on every engine: integer ids and
    text (not timestamps, floats or decimals). `columns` is a list of SQL
    expressions (a single string is accepted too); literals need their own
    quotes, e.g. ["'sis'", "sis_user_id"].

    null_if_any_null=true returns NULL instead when any part is NULL: for a
    foreign key that may be unknown (an unknown parent is not the key of '').

    Example: hash_key(['user_id']) for user 42 = sha256('42')
    = 73475cb40a568e8da8a045ced110137e159f890ac4da883b6b17dc651b3a8049.
-#}
{% macro hash_key(columns, null_if_any_null=false) -%}
    {{ return(adapter.dispatch('hash_key', 'canvas_pipeline')(columns, null_if_any_null)) }}
{%- endmacro %}

{#- Private: the canonical text the hash is taken of. -#}
{% macro _hash_key_input(columns) -%}
    {%- if columns is string -%}{%- set columns = [columns] -%}{%- endif -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- if not loop.first -%}{%- do parts.append("'|'") -%}{%- endif -%}
        {%- do parts.append("coalesce(" ~ canvas_pipeline.cast_string(column) ~ ", '')") -%}
    {%- endfor -%}
    {%- if parts | length == 1 -%}
        {{ return(parts[0]) }}
    {%- else -%}
        {{ return(dbt.concat(parts)) }}
    {%- endif -%}
{%- endmacro %}

{#- Private: wrap a hash expression in the NULL guard when asked to. -#}
{% macro _hash_key_guard(columns, null_if_any_null, hashed) -%}
    {%- if columns is string -%}{%- set columns = [columns] -%}{%- endif -%}
    {%- if null_if_any_null -%}
        {%- set conditions = [] -%}
        {%- for column in columns -%}
            {%- do conditions.append(column ~ " is null") -%}
        {%- endfor -%}
        case when {{ conditions | join(' or ') }} then null else {{ hashed }} end
    {%- else -%}
        {{ hashed }}
    {%- endif -%}
{%- endmacro %}

{% macro default__hash_key(columns, null_if_any_null) -%}
    {{ exceptions.raise_compiler_error(
        "hash_key: no implementation for adapter " ~ adapter.type()
        ~ " (keys must be sha256 hex of the UTF-8 canonical input)") }}
{%- endmacro %}

{% macro duckdb__hash_key(columns, null_if_any_null) -%}
    {%- set hashed -%}
        sha256({{ canvas_pipeline._hash_key_input(columns) }})
    {%- endset -%}
    {{ canvas_pipeline._hash_key_guard(columns, null_if_any_null, hashed) }}
{%- endmacro %}

{% macro postgres__hash_key(columns, null_if_any_null) -%}
    {%- set hashed -%}
        encode(sha256(convert_to({{ canvas_pipeline._hash_key_input(columns) }}, 'UTF8')), 'hex')
    {%- endset -%}
    {{ canvas_pipeline._hash_key_guard(columns, null_if_any_null, hashed) }}
{%- endmacro %}

{#- sqlserver: HASHBYTES hashes the bytes it is given, and nvarchar is UTF-16;
    converting through a UTF-8 collation (SQL Server 2019+) gives the same
    bytes as the other engines. Style 2 = hex without '0x'. -#}
{% macro sqlserver__hash_key(columns, null_if_any_null) -%}
    {%- set hashed -%}
        lower(convert(nvarchar(64), hashbytes('SHA2_256', cast(
            {{ canvas_pipeline._hash_key_input(columns) }} collate Latin1_General_100_BIN2_UTF8
            as varchar(max))), 2))
    {%- endset -%}
    {{ canvas_pipeline._hash_key_guard(columns, null_if_any_null, hashed) }}
{%- endmacro %}
