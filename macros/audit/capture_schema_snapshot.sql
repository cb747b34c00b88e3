{#- capture_schema_snapshot(): the schema-drift "pre-hook".

    Runs as a run-level pre-hook (on-run-start, after create_meta_tables), so
    it happens exactly once per invocation, before any model reads a source,
    however many threads the run uses; a model-level pre-hook would run once
    per model, concurrently.

    For every schema the project's sources read (graph.sources, e.g. `raw`;
    the `meta` source is left out: those are the audit's own tables):
    1. reads INFORMATION_SCHEMA.COLUMNS for all tables and views of the schema;
    2. builds one normalized schema JSON per table:
         {"table_schema": "raw", "table_name": "canvas_users",
          "columns": [{"name": "id", "type": "varchar", "nullable": false,
                       "ordinal": 1}, ...]}
       (names and types lowercased; types with their length/precision where
       the engine reports one, e.g. nvarchar(450), nvarchar(max),
       decimal(18,3), datetime2(6); PostgreSQL's long names shortened:
       "character varying" -> varchar, "timestamp without time zone" ->
       timestamp);
    3. inserts one meta.schema_snapshot row per table, run_id = invocation_id;
    4. compares with the previous snapshot of the schema (the latest earlier
       run that snapshotted it) and writes meta.schema_change_log rows:
         table_added / table_missing   (column and definitions null)
         column_added                  (new_definition, e.g. "varchar null")
         column_removed                (old_definition)
         column_changed                (type or nullability differs: both)
       A column that only moved (ordinal) is not a change.

    The very first snapshot of a schema is the baseline: it logs nothing.
    Comparing against the previous *run* (not each table's own latest
    snapshot) logs a dropped table once, not on every later run.
    Timestamps (captured_at, detected_at) come from the database clock,
    current_utc_timestamp(); the comparison is done here in Jinja, which keeps
    the SQL to plain selects and inserts on all three engines.
-#}
{% macro capture_schema_snapshot() %}
    {{ return(adapter.dispatch('capture_schema_snapshot', 'canvas_pipeline')()) }}
{% endmacro %}

{% macro default__capture_schema_snapshot() %}
    {%- if not _audit_is_active() -%}{{ return('') }}{%- endif -%}

    {%- set meta = _audit_meta_schema() -%}
    {%- set targets = [] -%}
    {%- for source in graph.sources.values() | sort(attribute='unique_id') -%}
        {%- set entry = ((source.database or target.database) | lower, source.schema | lower) -%}
        {%- if entry[1] != meta and entry not in targets -%}
            {%- do targets.append(entry) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not targets -%}{{ return('') }}{%- endif -%}

    {%- set snapshot_rows = [] -%}
    {%- set change_rows = [] -%}
    {%- for catalog, schema in targets -%}
        {%- set current = _audit_current_schema(catalog, schema) -%}
        {%- set previous = _audit_previous_schema(schema) -%}

        {%- for table, doc in current.items() -%}
            {%- do snapshot_rows.append([
                audit_string_literal(invocation_id), audit_string_literal(schema),
                audit_string_literal(table), audit_string_literal(tojson(doc)),
                current_utc_timestamp(),
            ]) -%}
        {%- endfor -%}

        {%- if previous -%}
            {%- for change in _audit_schema_changes(previous, current) -%}
                {%- do change_rows.append([
                    audit_string_literal(invocation_id), audit_string_literal(schema),
                    audit_string_literal(change['table']), audit_string_literal(change['type']),
                    _audit_value(change['column']), _audit_value(change['old']),
                    _audit_value(change['new']), current_utc_timestamp(),
                ]) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}

    {%- do _audit_insert(meta ~ '.schema_snapshot', [
        'run_id', 'table_schema', 'table_name', 'schema_json', 'captured_at'],
        snapshot_rows) -%}
    {%- do _audit_insert(meta ~ '.schema_change_log', [
        'run_id', 'table_schema', 'table_name', 'change_type', 'column_name',
        'old_definition', 'new_definition', 'detected_at'], change_rows) -%}
    {#- The reads above opened the transaction: there is always one to commit. -#}
    {%- do adapter.commit() -%}
    {{ return('') }}
{% endmacro %}


{#- {table_name: normalized schema doc} for one schema, from the database. -#}
{% macro _audit_current_schema(catalog, schema) %}
    {%- set found = _audit_fetch(_audit_columns_sql(catalog, schema)) -%}
    {%- set docs = {} -%}
    {%- for row in found.rows -%}
        {%- if row[0] not in docs -%}
            {%- do docs.update({row[0]: {
                'table_schema': schema, 'table_name': row[0], 'columns': []}}) -%}
        {%- endif -%}
        {%- do docs[row[0]]['columns'].append({
            'name': row[1],
            'type': _audit_normalize_type(row[3], row[5], row[6], row[7], row[8]),
            'nullable': (row[4] | string | upper) != 'NO',
            'ordinal': row[2] | int,
        }) -%}
    {%- endfor -%}
    {{ return(docs) }}
{% endmacro %}


{#- {table_name: schema doc} of the latest earlier run that snapshotted the
    schema; empty when there is none (first snapshot: the baseline). -#}
{% macro _audit_previous_schema(schema) %}
    {%- set found = _audit_fetch(_audit_previous_snapshot_sql(schema)) -%}
    {%- set docs = {} -%}
    {%- for row in found.rows -%}
        {%- set doc = fromjson(row[1]) -%}
        {%- if doc is mapping and doc.get('columns') is not none -%}
            {%- do docs.update({row[0]: doc}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(docs) }}
{% endmacro %}


{#- INFORMATION_SCHEMA.COLUMNS of one schema, in column order. -#}
{% macro _audit_columns_sql(catalog, schema) %}
    {{ return(
        'select lower(TABLE_NAME), lower(COLUMN_NAME), ORDINAL_POSITION, lower(DATA_TYPE),'
        ~ ' IS_NULLABLE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE,'
        ~ ' DATETIME_PRECISION'
        ~ ' from INFORMATION_SCHEMA.COLUMNS'
        ~ ' where lower(TABLE_CATALOG) = ' ~ audit_string_literal(catalog | lower)
        ~ ' and lower(TABLE_SCHEMA) = ' ~ audit_string_literal(schema | lower)
        ~ ' order by lower(TABLE_NAME), ORDINAL_POSITION') }}
{% endmacro %}


{#- The rows of the latest snapshot of the schema taken by an earlier run. -#}
{% macro _audit_previous_snapshot_sql(schema) %}
    {%- set snapshot = _audit_meta_schema() ~ '.schema_snapshot' -%}
    {%- set schema_lit = audit_string_literal(schema) -%}
    {{ return(
        'select prev.table_name, prev.schema_json'
        ~ ' from ' ~ snapshot ~ ' as prev'
        ~ ' where prev.table_schema = ' ~ schema_lit
        ~ ' and prev.run_id in (select latest.run_id'
        ~ ' from ' ~ snapshot ~ ' as latest'
        ~ ' where latest.table_schema = ' ~ schema_lit
        ~ ' and latest.captured_at = (select max(earlier.captured_at)'
        ~ ' from ' ~ snapshot ~ ' as earlier'
        ~ ' where earlier.table_schema = ' ~ schema_lit
        ~ ' and earlier.run_id <> ' ~ audit_string_literal(invocation_id) ~ '))') }}
{% endmacro %}


{#- The list of changes between two {table: doc} maps, each a dict with
    table, type, column, old, new. -#}
{% macro _audit_schema_changes(previous, current) %}
    {%- set changes = [] -%}
    {%- for table in current.keys() | sort if table not in previous -%}
        {%- do changes.append({'table': table, 'type': 'table_added',
                               'column': none, 'old': none, 'new': none}) -%}
    {%- endfor -%}
    {%- for table in previous.keys() | sort if table not in current -%}
        {%- do changes.append({'table': table, 'type': 'table_missing',
                               'column': none, 'old': none, 'new': none}) -%}
    {%- endfor -%}
    {%- for table in current.keys() | sort if table in previous -%}
        {%- set old_columns = {} -%}
        {%- for column in previous[table]['columns'] -%}
            {%- do old_columns.update({column['name']: _audit_column_definition(column)}) -%}
        {%- endfor -%}
        {%- set new_columns = {} -%}
        {%- for column in current[table]['columns'] -%}
            {%- do new_columns.update({column['name']: _audit_column_definition(column)}) -%}
        {%- endfor -%}
        {%- for column in current[table]['columns'] -%}
            {%- set name = column['name'] -%}
            {%- if name not in old_columns -%}
                {%- do changes.append({'table': table, 'type': 'column_added', 'column': name,
                                       'old': none, 'new': new_columns[name]}) -%}
            {%- elif old_columns[name] != new_columns[name] -%}
                {%- do changes.append({'table': table, 'type': 'column_changed',
                                       'column': name, 'old': old_columns[name],
                                       'new': new_columns[name]}) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- for column in previous[table]['columns'] if column['name'] not in new_columns -%}
            {%- do changes.append({'table': table, 'type': 'column_removed',
                                   'column': column['name'],
                                   'old': old_columns[column['name']], 'new': none}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(changes) }}
{% endmacro %}


{#- "varchar null", "nvarchar(450) not null". -#}
{% macro _audit_column_definition(column) %}
    {{ return(column['type'] ~ (' null' if column['nullable'] else ' not null')) }}
{% endmacro %}


{#- A data type as INFORMATION_SCHEMA reports it, in a normalized form. -#}
{% macro _audit_normalize_type(data_type, char_length, precision, scale, time_precision) %}
    {%- set aliases = {
        'character varying': 'varchar',
        'character': 'char',
        'timestamp without time zone': 'timestamp',
        'timestamp with time zone': 'timestamptz',
        'time without time zone': 'time',
        'time with time zone': 'timetz',
        'double precision': 'double',
    } -%}
    {%- set name = (data_type or '') | string | lower | trim -%}
    {%- set name = aliases.get(name, name) -%}
    {%- if '(' not in name -%}
        {%- if char_length is not none -%}
            {%- set length = char_length | int -%}
            {%- set name = name ~ '(' ~ ('max' if length == -1 else length) ~ ')' -%}
        {%- elif name in ['decimal', 'numeric'] and precision is not none -%}
            {%- set name = name ~ '(' ~ (precision | int) ~ ',' ~ ((scale or 0) | int) ~ ')' -%}
        {%- elif name in ['datetime2', 'datetimeoffset', 'time'] and time_precision is not none -%}
            {%- set name = name ~ '(' ~ (time_precision | int) ~ ')' -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(name) }}
{% endmacro %}
