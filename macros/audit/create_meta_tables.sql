{#- create_meta_tables(): on-run-start hook.

    Creates, when missing, the schemas `raw` and `meta`, the raw tables
    (contract section 2: every table of the `canvas` source in graph.sources,
    i.e. the five Canvas tables and any source added later) and the meta
    tables (contract section 3), as the `canvas_contract` var of
    dbt_project.yml declares them, with its types for the adapter
    (audit_column_types()). The loader reads the same declaration
    (loader/contract.py), so dbt works on an empty database and the loader
    creates the same tables with the same types, whichever runs first.

    Columns the contract gained since a table was made (`deleted_at` on a raw
    table from before deletes: raw_columns_added_later; any meta column) are
    added to the existing tables.

    Only what is missing is created (checked in INFORMATION_SCHEMA first, so a
    user without CREATE rights on an existing database is not asked for them);
    the statements are idempotent anyway (IF NOT EXISTS, or SCHEMA_ID/OBJECT_ID
    guards on SQL Server) for a loader racing this hook.

    A raw table that had to be re-created although an earlier run had
    snapshotted it (someone dropped it) is logged to meta.schema_change_log
    as `table_missing`: capture_schema_snapshot runs after this hook and
    would otherwise only see the fresh, empty table.

    Renders to an empty string: every statement runs here, in one
    transaction (see _audit_helpers.sql).
-#}
{% macro create_meta_tables() %}
    {{ return(adapter.dispatch('create_meta_tables', 'canvas_pipeline')()) }}
{% endmacro %}

{% macro default__create_meta_tables() %}
    {%- if not _audit_is_active() -%}{{ return('') }}{%- endif -%}

    {%- set meta = _audit_meta_schema() -%}
    {%- set raw_tables = _audit_raw_tables() -%}
    {%- set wanted = _audit_wanted_tables() -%}

    {%- set schemas = [] -%}
    {%- for schema, table, definitions in wanted -%}
        {%- if schema not in schemas -%}{%- do schemas.append(schema) -%}{%- endif -%}
    {%- endfor -%}

    {#- What exists already. -#}
    {%- set existing_schemas = [] -%}
    {%- set found = _audit_fetch(_audit_existing_schemas_sql(target.database, schemas)) -%}
    {%- for row in found.rows -%}{%- do existing_schemas.append(row[0]) -%}{%- endfor -%}
    {%- set existing_tables = [] -%}
    {%- set found = _audit_fetch(_audit_existing_tables_sql(target.database, schemas)) -%}
    {%- for row in found.rows -%}
        {%- do existing_tables.append((row[0], row[1])) -%}
    {%- endfor -%}

    {#- Create what is missing. -#}
    {%- for schema in schemas if schema not in existing_schemas -%}
        {%- do _audit_exec(audit_create_schema_sql(schema)) -%}
    {%- endfor -%}
    {%- set recreated_raw = [] -%}
    {%- for schema, table, definitions in wanted if (schema, table) not in existing_tables -%}
        {%- do _audit_exec(audit_create_table_sql(schema, table, definitions)) -%}
        {%- if (schema, table) in raw_tables -%}
            {%- do recreated_raw.append((schema, table)) -%}
        {%- endif -%}
    {%- endfor -%}

    {%- do _audit_add_missing_columns(wanted, existing_tables, schemas) -%}

    {#- A raw table created now that an earlier snapshot knew: it was dropped. -#}
    {%- if recreated_raw and (meta, 'schema_snapshot') in existing_tables -%}
        {%- set known = _audit_fetch(_audit_snapshotted_tables_sql(recreated_raw)) -%}
        {%- set rows = [] -%}
        {%- for row in known.rows -%}
            {%- do rows.append([
                audit_string_literal(invocation_id), audit_string_literal(row[0]),
                audit_string_literal(row[1]), audit_string_literal('table_missing'),
                'null', 'null',
                audit_string_literal('re-created empty by create_meta_tables'),
                current_utc_timestamp(),
            ]) -%}
        {%- endfor -%}
        {%- do _audit_insert(meta ~ '.schema_change_log', [
            'run_id', 'table_schema', 'table_name', 'change_type', 'column_name',
            'old_definition', 'new_definition', 'detected_at'], rows) -%}
    {%- endif -%}

    {%- do adapter.commit() -%}
    {{ return('') }}
{% endmacro %}


{#- Columns the contract gained since a table was made, added to the existing
    base tables that lack them: to a raw table the contract's
    raw_columns_added_later (`deleted_at`, on a raw table from before deletes),
    as the loader does (any other missing raw column: the loader refuses the
    table, naming them); to a meta table any (all are nullable). -#}
{% macro _audit_add_missing_columns(wanted, existing_tables, schemas) %}
    {%- set raw_tables = _audit_raw_tables() -%}
    {%- set later = _audit_contract().get('raw_columns_added_later') or [] -%}
    {%- set have = {} -%}
    {%- set found = _audit_fetch(_audit_existing_columns_sql(target.database, schemas)) -%}
    {%- for row in found.rows -%}
        {%- do have.setdefault(row[0] ~ '.' ~ row[1], []).append(row[2]) -%}
    {%- endfor -%}
    {%- for schema, table, definitions in wanted if (schema, table) in existing_tables -%}
        {%- set columns = have.get(schema ~ '.' ~ table) -%}
        {%- for definition in definitions
                if columns and definition.split(' ')[0] | lower not in columns
                and ((schema, table) not in raw_tables
                     or definition.split(' ')[0] in later) -%}
            {%- do _audit_exec(audit_add_column_sql(schema, table, definition)) -%}
        {%- endfor -%}
    {%- endfor -%}
{% endmacro %}

{#- The columns of the schemas' base tables (lowercased schema, table, column). -#}
{% macro _audit_existing_columns_sql(catalog, schemas) %}
    {%- set names = [] -%}
    {%- for schema in schemas -%}{%- do names.append(audit_string_literal(schema)) -%}{%- endfor -%}
    {{ return('select lower(c.TABLE_SCHEMA), lower(c.TABLE_NAME), lower(c.COLUMN_NAME)'
              ~ ' from INFORMATION_SCHEMA.COLUMNS as c'
              ~ ' inner join INFORMATION_SCHEMA.TABLES as t'
              ~ ' on t.TABLE_CATALOG = c.TABLE_CATALOG and t.TABLE_SCHEMA = c.TABLE_SCHEMA'
              ~ ' and t.TABLE_NAME = c.TABLE_NAME'
              ~ " where t.TABLE_TYPE = 'BASE TABLE'"
              ~ ' and lower(c.TABLE_CATALOG) = ' ~ audit_string_literal(catalog | lower)
              ~ ' and lower(c.TABLE_SCHEMA) in (' ~ names | join(', ') ~ ')') }}
{% endmacro %}

{#- Which of the schemas exist (one column: the lowercased name). -#}
{% macro _audit_existing_schemas_sql(catalog, schemas) %}
    {%- set names = [] -%}
    {%- for schema in schemas -%}{%- do names.append(audit_string_literal(schema)) -%}{%- endfor -%}
    {{ return('select lower(SCHEMA_NAME) from INFORMATION_SCHEMA.SCHEMATA'
              ~ ' where lower(CATALOG_NAME) = ' ~ audit_string_literal(catalog | lower)
              ~ ' and lower(SCHEMA_NAME) in (' ~ names | join(', ') ~ ')') }}
{% endmacro %}

{#- The tables and views of the schemas (lowercased schema, table). -#}
{% macro _audit_existing_tables_sql(catalog, schemas) %}
    {%- set names = [] -%}
    {%- for schema in schemas -%}{%- do names.append(audit_string_literal(schema)) -%}{%- endfor -%}
    {{ return('select lower(TABLE_SCHEMA), lower(TABLE_NAME) from INFORMATION_SCHEMA.TABLES'
              ~ ' where lower(TABLE_CATALOG) = ' ~ audit_string_literal(catalog | lower)
              ~ ' and lower(TABLE_SCHEMA) in (' ~ names | join(', ') ~ ')') }}
{% endmacro %}

{#- Which of the (schema, table) pairs an earlier run has snapshotted. -#}
{% macro _audit_snapshotted_tables_sql(tables) %}
    {%- set conditions = [] -%}
    {%- for schema, table in tables -%}
        {%- do conditions.append('(table_schema = ' ~ audit_string_literal(schema)
            ~ ' and table_name = ' ~ audit_string_literal(table) ~ ')') -%}
    {%- endfor -%}
    {{ return('select distinct table_schema, table_name from '
              ~ _audit_meta_schema() ~ '.schema_snapshot where ' ~ conditions | join(' or ')) }}
{% endmacro %}


{#- Every table the hook creates when missing: a list of
    (schema, table, [column definitions]) with this adapter's types. -#}
{% macro _audit_wanted_tables() %}
    {%- set types = audit_column_types() -%}
    {%- set wanted = [] -%}
    {%- for table, columns in _audit_meta_table_specs().items() -%}
        {%- set definitions = [] -%}
        {%- for column, logical in columns -%}
            {%- do definitions.append(column ~ ' ' ~ types[logical]) -%}
        {%- endfor -%}
        {%- do wanted.append((_audit_meta_schema(), table, definitions)) -%}
    {%- endfor -%}
    {%- set raw_definitions = [] -%}
    {%- for column, logical, not_null in _audit_raw_table_spec() -%}
        {%- do raw_definitions.append(
            column ~ ' ' ~ types[logical] ~ (' not null' if not_null else '')) -%}
    {%- endfor -%}
    {%- set history_definitions = [] -%}
    {%- for column, logical, not_null in _audit_history_table_spec() -%}
        {%- do history_definitions.append(
            column ~ ' ' ~ types[logical] ~ (' not null' if not_null else '')) -%}
    {%- endfor -%}
    {%- for schema, table in _audit_raw_tables() -%}
        {%- do wanted.append((schema, table, raw_definitions)) -%}
        {%- do wanted.append((schema, canvas_pipeline.history_identifier(table),
                              history_definitions)) -%}
    {%- endfor -%}
    {{ return(wanted) }}
{% endmacro %}
