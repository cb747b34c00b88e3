{#- Shared pieces of the audit hooks (create_meta_tables, capture_schema_snapshot,
    log_run_results).

    The hooks run their statements themselves (statement blocks) and render to
    an empty string, so dbt has nothing left to execute: that lets them read
    back (information schema, previous snapshots, failing test rows) and keep
    every write of one hook in one transaction, committed with
    adapter.commit() at the end (PostgreSQL would otherwise roll the hook's
    writes back when dbt closes the connection).

    Dispatched pieces (default__ holds the portable SQL, adapters override only
    where they differ):
      audit_column_types()            logical column type -> physical type
                                      (the contract's, per engine)
      audit_create_schema_sql(schema) idempotent "create schema"
      audit_create_table_sql(schema, table, columns)  idempotent "create table"
      audit_add_column_sql(schema, table, definition)  idempotent "add column"
      audit_string_literal(value)     a quoted string literal ('' escaping)
      current_utc_timestamp()         the database clock, naive UTC
      dq_sample_keys_sql(sql, n)      up to n failing rows of a test query
-#}

{#- ---------------------------------------------------------------------- -#}
{#- Table specs (contract sections 2 and 3): the `canvas_contract` var of
    dbt_project.yml, which the loader reads too (loader/contract.py), so both
    create the same tables. Logical types there: key, text, ts, int, raw_*. -#}

{% macro _audit_meta_schema() %}{{ return('meta') }}{% endmacro %}

{% macro _audit_contract() %}{{ return(var('canvas_contract')) }}{% endmacro %}

{#- {table: [(column, logical type)]}, in the contract's order. -#}
{% macro _audit_meta_table_specs() %}
    {%- set specs = {} -%}
    {%- for table, columns in _audit_contract()['meta_tables'].items() -%}
        {%- set pairs = [] -%}
        {%- for column, logical in columns -%}
            {%- do pairs.append((column, logical)) -%}
        {%- endfor -%}
        {%- do specs.update({table: pairs}) -%}
    {%- endfor -%}
    {{ return(specs) }}
{% endmacro %}

{#- [(column, logical type, not null)], in the contract's order. -#}
{% macro _audit_raw_table_spec() %}
    {%- set spec = [] -%}
    {%- for column, logical, not_null, family in _audit_contract()['raw_columns'] -%}
        {%- do spec.append((column, logical, not_null)) -%}
    {%- endfor -%}
    {{ return(spec) }}
{% endmacro %}

{#- [(column, logical type, not null)] of a history table: the raw columns,
    then the contract's history_columns (raw.<table>__history). -#}
{% macro _audit_history_table_spec() %}
    {%- set spec = _audit_raw_table_spec() -%}
    {%- for column, logical, not_null, family in _audit_contract()['history_columns'] -%}
        {%- do spec.append((column, logical, not_null)) -%}
    {%- endfor -%}
    {{ return(spec) }}
{% endmacro %}

{#- The raw tables: every table of the `canvas` source (contract section 2:
    canvas_users, _courses, _enrollments, _assignments, _submissions), so a
    source added to the YAML gets its empty table too. A list of
    (schema, table). -#}
{% macro _audit_raw_tables() %}
    {%- set tables = [] -%}
    {%- for source in graph.sources.values() | sort(attribute='unique_id') -%}
        {%- set entry = (source.schema | lower, source.identifier | lower) -%}
        {%- if source.source_name == 'canvas' and entry not in tables -%}
            {%- do tables.append(entry) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(tables) }}
{% endmacro %}

{#- ---------------------------------------------------------------------- -#}
{#- Whether the audit hooks do anything in this invocation: only at execution
    time, only for commands that run nodes, never in offline compilation. -#}
{% macro _audit_is_active() %}
    {{ return(
        execute
        and not var('offline_compile', false)
        and flags.WHICH in ['build', 'run', 'test', 'seed', 'snapshot', 'retry']
    ) }}
{% endmacro %}

{#- Run one statement inside the hook's transaction (opened on first use). -#}
{% macro _audit_exec(sql) %}
    {% call statement('audit_hook', fetch_result=false, auto_begin=true) %}
        {{ sql }}
    {% endcall %}
{% endmacro %}

{#- Run a query inside the hook's transaction and return its agate table. -#}
{% macro _audit_fetch(sql) %}
    {% call statement('audit_hook_fetch', fetch_result=true, auto_begin=true) %}
        {{ sql }}
    {% endcall %}
    {{ return(load_result('audit_hook_fetch').table) }}
{% endmacro %}

{#- Insert rows (lists of already rendered SQL values) in chunks: SQL Server
    accepts at most 1000 rows per VALUES list. -#}
{% macro _audit_insert(relation, columns, rows) %}
    {%- for sql in _audit_insert_sql(relation, columns, rows) -%}
        {%- do _audit_exec(sql) -%}
    {%- endfor -%}
{% endmacro %}

{#- The insert statements for _audit_insert (a list, one per chunk). -#}
{% macro _audit_insert_sql(relation, columns, rows, chunk_size=500) %}
    {%- set statements = [] -%}
    {%- for chunk in rows | batch(chunk_size) -%}
        {%- set values = [] -%}
        {%- for row in chunk -%}
            {%- do values.append('(' ~ row | join(', ') ~ ')') -%}
        {%- endfor -%}
        {%- do statements.append('insert into ' ~ relation ~ ' (' ~ columns | join(', ')
                                 ~ ')\nvalues\n    ' ~ values | join(',\n    ')) -%}
    {%- endfor -%}
    {{ return(statements) }}
{% endmacro %}

{#- A SQL value for a Python value: null, a number, or a quoted string. -#}
{% macro _audit_value(value) %}
    {%- if value is none -%}
        {{ return('null') }}
    {%- elif value is number and value is not sameas true and value is not sameas false -%}
        {{ return(value | string) }}
    {%- else -%}
        {{ return(audit_string_literal(value | string)) }}
    {%- endif -%}
{% endmacro %}

{#- A timestamp literal from a Python datetime (converted to naive UTC). -#}
{% macro _audit_ts_value(dt) %}
    {%- if dt is none -%}{{ return('null') }}{%- endif -%}
    {%- if dt.tzinfo is not none -%}
        {%- set dt = dt.astimezone(modules.pytz.utc).replace(tzinfo=none) -%}
    {%- endif -%}
    {{ return('cast(' ~ audit_string_literal(dt.strftime('%Y-%m-%d %H:%M:%S.%f'))
              ~ ' as ' ~ audit_column_types()['ts'] ~ ')') }}
{% endmacro %}

{#- The current time, naive UTC, as a Python datetime (dbt's own clock: used
    where durations are computed against run_started_at). -#}
{% macro _audit_utc_now() %}
    {{ return(modules.datetime.datetime.now(modules.pytz.utc).replace(tzinfo=none)) }}
{% endmacro %}

{#- ---------------------------------------------------------------------- -#}
{#- Dispatched pieces. -#}

{% macro audit_column_types() %}
    {{ return(adapter.dispatch('audit_column_types', 'canvas_pipeline')()) }}
{% endmacro %}

{#- The contract's types for this engine (target.type); an adapter the
    contract does not list gets dbt's portable types. -#}
{% macro default__audit_column_types() %}
    {%- set per_engine = _audit_contract()['types'] -%}
    {%- if target.type in per_engine -%}
        {{ return(per_engine[target.type]) }}
    {%- endif -%}
    {%- set text = dbt.type_string() -%}
    {{ return({
        'key': text, 'text': text, 'ts': dbt.type_timestamp(), 'int': dbt.type_bigint(),
        'raw_id': text, 'raw_json': text, 'raw_hash': text,
        'raw_file': text, 'raw_load_id': text,
    }) }}
{% endmacro %}


{% macro audit_create_schema_sql(schema) %}
    {{ return(adapter.dispatch('audit_create_schema_sql', 'canvas_pipeline')(schema)) }}
{% endmacro %}

{% macro default__audit_create_schema_sql(schema) %}
    {{ return('create schema if not exists ' ~ schema) }}
{% endmacro %}

{#- T-SQL: no IF NOT EXISTS, and CREATE SCHEMA must be alone in its batch. -#}
{% macro sqlserver__audit_create_schema_sql(schema) %}
    {{ return("if schema_id('" ~ schema ~ "') is null exec('create schema " ~ schema ~ "')") }}
{% endmacro %}


{#- columns: list of rendered column definitions ("name type [not null]"). -#}
{% macro audit_create_table_sql(schema, table, columns) %}
    {{ return(adapter.dispatch('audit_create_table_sql', 'canvas_pipeline')(
        schema, table, columns)) }}
{% endmacro %}

{% macro default__audit_create_table_sql(schema, table, columns) %}
    {{ return('create table if not exists ' ~ schema ~ '.' ~ table
              ~ ' (\n    ' ~ columns | join(',\n    ') ~ '\n)') }}
{% endmacro %}

{% macro sqlserver__audit_create_table_sql(schema, table, columns) %}
    {{ return("if object_id('" ~ schema ~ "." ~ table ~ "', 'U') is null\n"
              ~ 'create table ' ~ schema ~ '.' ~ table
              ~ ' (\n    ' ~ columns | join(',\n    ') ~ '\n)') }}
{% endmacro %}


{#- Add a column to an existing table, unless it is there (a loader may race the
    hook): `definition` is "name type". -#}
{% macro audit_add_column_sql(schema, table, definition) %}
    {{ return(adapter.dispatch('audit_add_column_sql', 'canvas_pipeline')(
        schema, table, definition)) }}
{% endmacro %}

{% macro default__audit_add_column_sql(schema, table, definition) %}
    {{ return('alter table ' ~ schema ~ '.' ~ table ~ ' add column if not exists '
              ~ definition) }}
{% endmacro %}

{% macro sqlserver__audit_add_column_sql(schema, table, definition) %}
    {{ return("if col_length('" ~ schema ~ "." ~ table ~ "', '"
              ~ definition.split(' ')[0] ~ "') is null\n"
              ~ 'alter table ' ~ schema ~ '.' ~ table ~ ' add ' ~ definition) }}
{% endmacro %}


{% macro audit_string_literal(value) %}
    {{ return(adapter.dispatch('audit_string_literal', 'canvas_pipeline')(value)) }}
{% endmacro %}

{% macro default__audit_string_literal(value) %}
    {{ return("'" ~ (value | string | replace("'", "''")) ~ "'") }}
{% endmacro %}

{#- N'...': keeps non-ASCII text intact in nvarchar columns. In T-SQL a
    backslash right before a line break inside a literal continues the line
    (both vanish): one more backslash and line break keep the text as it was. -#}
{% macro sqlserver__audit_string_literal(value) %}
    {%- set text = value | string | replace("'", "''")
                   | replace('\\\r\n', '\\\\\r\n\r\n')
                   | replace('\\\n', '\\\\\n\n') -%}
    {{ return("N'" ~ text ~ "'") }}
{% endmacro %}


{#- The database clock as a naive UTC timestamp. -#}
{% macro current_utc_timestamp() %}
    {{ return(adapter.dispatch('current_utc_timestamp', 'canvas_pipeline')()) }}
{% endmacro %}

{% macro default__current_utc_timestamp() %}
    {{ return('current_timestamp') }}
{% endmacro %}

{% macro duckdb__current_utc_timestamp() %}
    {{ return("cast(now() at time zone 'UTC' as timestamp)") }}
{% endmacro %}

{% macro postgres__current_utc_timestamp() %}
    {{ return("(now() at time zone 'utc')") }}
{% endmacro %}

{% macro sqlserver__current_utc_timestamp() %}
    {{ return('sysutcdatetime()') }}
{% endmacro %}


{#- Up to n rows of a data test's failing rows, ordered by the first column
    (`sample_key` by contract, a string) so the samples are repeatable. All
    columns are selected: the caller picks `sample_key` if the test returns
    one. Returns none when the query cannot be wrapped on this engine. The
    newline before ")" keeps a trailing line comment of the test SQL from
    swallowing it. -#}
{% macro dq_sample_keys_sql(compiled_sql, n) %}
    {{ return(adapter.dispatch('dq_sample_keys_sql', 'canvas_pipeline')(compiled_sql, n)) }}
{% endmacro %}

{% macro default__dq_sample_keys_sql(compiled_sql, n) %}
    {{ return('select * from (\n' ~ compiled_sql ~ '\n) as dq_failures order by 1 limit ' ~ n) }}
{% endmacro %}

{#- T-SQL rejects a CTE inside a derived table: such a test gets no samples. -#}
{% macro sqlserver__dq_sample_keys_sql(compiled_sql, n) %}
    {%- if modules.re.match('(?is)^\\s*(--[^\\n]*\\n\\s*|/\\*.*?\\*/\\s*)*with\\s',
                            compiled_sql) -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return('select top ' ~ n ~ ' * from (\n' ~ compiled_sql ~ '\n) as dq_failures order by 1') }}
{% endmacro %}
