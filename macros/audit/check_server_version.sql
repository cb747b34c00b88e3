{#- check_server_version(): on-run-start hook, first.

    SQL Server: the project needs SQL Server 2019 (15.x) or later, Azure SQL
    Database or Azure SQL Managed Instance (engine editions 5 and 8), because
    the hash keys convert through a UTF-8 collation (hash_key). An older server
    fails the run here with one line naming the version found and the one
    required, instead of an unhelpful collation error in the first model.
    The loader checks the same on connect (loader/backends/sqlserver/tsql.py).
    Other engines: nothing to check.
-#}
{% macro check_server_version() %}
    {{ return(adapter.dispatch('check_server_version', 'canvas_pipeline')()) }}
{% endmacro %}

{% macro default__check_server_version() %}
    {{ return('') }}
{% endmacro %}

{% macro sqlserver__check_server_version() %}
    {%- if not _audit_is_active() -%}{{ return('') }}{%- endif -%}
    {%- set found = _audit_fetch(
        "select cast(serverproperty('EngineEdition') as int) as engine_edition, "
        ~ "cast(serverproperty('ProductMajorVersion') as int) as major_version, "
        ~ "cast(serverproperty('ProductVersion') as nvarchar(128)) as product_version") -%}
    {%- if found.rows | length == 1 -%}
        {%- set edition = found.rows[0][0] -%}
        {%- set major = found.rows[0][1] -%}
        {%- if edition not in [5, 8] and major is not none and major < 15 -%}
            {{ exceptions.raise_compiler_error(
                'SQL Server ' ~ found.rows[0][2] ~ ' found; the project needs SQL Server '
                ~ '2019 (15.x) or later, Azure SQL Database or Azure SQL Managed Instance '
                ~ '(the hash keys use a UTF-8 collation)') }}
        {%- endif -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}
