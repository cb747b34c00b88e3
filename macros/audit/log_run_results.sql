{#- log_run_results(results): on-run-end hook, the run's audit trail.

    Writes, for build/run/test/seed/snapshot/retry invocations (nothing for
    compile, docs, ls, ...; nothing at parse time):

    (a) meta.dq_check_result: one row per data test in `results`
        (resource_type 'test'; unit tests are not data checks):
          run_id         invocation_id
          check_name     the test node's name
          model_name     the tested node (attached model/seed/snapshot, else the
                         first node or source it depends on, "source.table")
          column_name    the tested column, null for table-level tests
          severity       config.meta.dq_severity (info|warn|error), else the
                         dbt severity (error -> error, warn -> warn)
          status         pass|warn|fail|error|skipped (the result's status)
          failing_rows   result.failures (null when the test did not run)
          sample_keys    JSON array of up to N strings (N: the test's
                         meta.dq_sample_keys, else var('dq_sample_keys'), 10;
                         0 switches them off, as for personal data): the `sample_key`
                         column of the failing rows, re-selected by wrapping the
                         compiled test (dq_sample_keys_sql); '[]' when the test
                         passed, did not run, or returns no `sample_key`
          checked_at     when dbt finished executing the test (naive UTC)
          execution_time_ms
    (b) meta.job_run: one row for the invocation (replacing the 'running'
        row log_run_start wrote): run_id = invocation_id,
        job_name 'dbt <command>', status 'error' when any result is
        error/fail (else 'success'), started_at = run_started_at, ended_at =
        now (both dbt's clock, naive UTC), duration_ms, error_message (the
        first failing nodes and their messages, null on success) and
        metrics_json:
          {"command": "build",
           "models": {"<name>": {"resource_type": "model", "status": "success",
                                 "rows_affected": 10, "execution_time_s": 0.12}},
           "counts": {"pass": 0, "warn": 0, "error": 0, "fail": 0, "skipped": 0},
           "warn_count": 0, "error_count": 0,
           "orphan_counts": {"<check with 'orphan' in its name>": 3},
           "checks": {"<check_name>": {"status": "warn", "severity": "warn",
                                       "failing_rows": 3}}}
        "models" holds models, seeds and snapshots; "counts" is over every
        result like dbt's summary line (success and pass -> pass, no-op ->
        skipped, partial success -> warn); error_count = error + fail.

    Sample keys are selected with `select *` and the `sample_key` column is
    picked in Jinja: a test without one gives '[]' instead of failing the hook
    (Jinja cannot catch a database error).
-#}
{% macro log_run_results(results) %}
    {{ return(adapter.dispatch('log_run_results', 'canvas_pipeline')(results)) }}
{% endmacro %}

{% macro default__log_run_results(results) %}
    {%- if not _audit_is_active() -%}{{ return('') }}{%- endif -%}

    {%- set meta = _audit_meta_schema() -%}
    {%- set run_id = audit_string_literal(invocation_id) -%}
    {%- set ended_at = _audit_utc_now() -%}
    {%- set started_at = run_started_at.astimezone(modules.pytz.utc).replace(tzinfo=none) -%}
    {%- set status_groups = {
        'success': 'pass', 'pass': 'pass', 'warn': 'warn', 'partial success': 'warn',
        'error': 'error', 'fail': 'fail', 'skipped': 'skipped', 'no-op': 'skipped',
    } -%}

    {%- set counts = {'pass': 0, 'warn': 0, 'error': 0, 'fail': 0, 'skipped': 0} -%}
    {%- set models = {} -%}
    {%- set checks = {} -%}
    {%- set orphan_counts = {} -%}
    {%- set errors = [] -%}
    {%- set check_rows = [] -%}

    {%- for result in results -%}
        {%- set node = result.node -%}
        {%- set status = result.status | string | lower -%}
        {%- set group = status_groups.get(status, status) -%}
        {%- do counts.update({group: counts.get(group, 0) + 1}) -%}
        {%- if group in ['error', 'fail'] -%}
            {%- do errors.append(node.name ~ ': ' ~ (result.message or status)) -%}
        {%- endif -%}

        {%- if node.resource_type in ['model', 'seed', 'snapshot'] -%}
            {%- set rows_affected = (result.adapter_response or {}).get('rows_affected') -%}
            {%- do models.update({node.name: {
                'resource_type': node.resource_type | string,
                'status': status,
                'rows_affected': rows_affected | int if rows_affected is not none else none,
                'execution_time_s': (result.execution_time or 0) | round(3),
            }}) -%}

        {%- elif node.resource_type == 'test' -%}
            {%- set severity = _audit_check_severity(node) -%}
            {%- set failures = result.failures | int if result.failures is not none else none -%}
            {%- set sample_keys = [] -%}
            {%- set key_limit = _audit_sample_key_limit(node) -%}
            {%- if status in ['warn', 'fail'] and failures and node.compiled_code
                  and key_limit > 0 -%}
                {%- set sample_keys = _audit_sample_keys(node.compiled_code, key_limit) -%}
            {%- endif -%}
            {%- do checks.update({node.name: {
                'status': status, 'severity': severity, 'failing_rows': failures}}) -%}
            {%- if 'orphan' in node.name | lower -%}
                {%- do orphan_counts.update({node.name: failures}) -%}
            {%- endif -%}
            {%- do check_rows.append([
                run_id,
                audit_string_literal(node.name),
                _audit_value(_audit_tested_node_name(node)),
                _audit_value(_audit_tested_column_name(node)),
                audit_string_literal(severity),
                audit_string_literal(status),
                _audit_value(failures),
                audit_string_literal(tojson(sample_keys)),
                _audit_ts_value(_audit_result_completed_at(result) or ended_at),
                _audit_value(((result.execution_time or 0) * 1000) | round | int),
            ]) -%}
        {%- endif -%}
    {%- endfor -%}

    {%- do _audit_insert(meta ~ '.dq_check_result', [
        'run_id', 'check_name', 'model_name', 'column_name', 'severity', 'status',
        'failing_rows', 'sample_keys', 'checked_at', 'execution_time_ms'], check_rows) -%}

    {%- set metrics = {
        'command': flags.WHICH,
        'models': models,
        'counts': counts,
        'warn_count': counts['warn'],
        'error_count': counts['error'] + counts['fail'],
        'orphan_counts': orphan_counts,
        'checks': checks,
    } -%}
    {%- set error_message = (errors | join('\n'))[:4000] if errors else none -%}
    {%- set duration_ms = ((ended_at - started_at).total_seconds() * 1000) | round | int -%}
    {#- Replaces the 'running' row of log_run_start. -#}
    {%- do _audit_exec('delete from ' ~ meta ~ '.job_run where run_id = ' ~ run_id) -%}
    {%- do _audit_insert(meta ~ '.job_run', [
        'run_id', 'job_name', 'status', 'started_at', 'ended_at', 'duration_ms',
        'metrics_json', 'error_message'], [[
            run_id,
            audit_string_literal('dbt ' ~ flags.WHICH),
            audit_string_literal('error' if errors else 'success'),
            _audit_ts_value(started_at),
            _audit_ts_value(ended_at),
            _audit_value(duration_ms),
            audit_string_literal(tojson(metrics)),
            _audit_value(error_message),
        ]]) -%}
    {%- do adapter.commit() -%}
    {{ return('') }}
{% endmacro %}


{#- info|warn|error: the test's meta.dq_severity, else its dbt severity. -#}
{% macro _audit_check_severity(node) %}
    {%- set meta = node.config.meta or {} -%}
    {%- set dq_severity = meta.get('dq_severity') or (node.meta or {}).get('dq_severity') -%}
    {%- if dq_severity -%}{{ return(dq_severity | string | lower) }}{%- endif -%}
    {{ return('warn' if (node.config.severity or 'error') | lower == 'warn' else 'error') }}
{% endmacro %}


{#- How many sample keys a failing test records: its meta.dq_sample_keys, else
    var('dq_sample_keys') (default 10); 0 records none (keys may be SIS ids). -#}
{% macro _audit_sample_key_limit(node) %}
    {%- set meta = node.config.meta or {} -%}
    {%- set limit = meta.get('dq_sample_keys', (node.meta or {}).get('dq_sample_keys')) -%}
    {%- if limit is none -%}{%- set limit = var('dq_sample_keys', 10) -%}{%- endif -%}
    {{ return([limit | int, 0] | max) }}
{% endmacro %}


{#- The name of what a test tests: its attached node, else its first parent. -#}
{% macro _audit_tested_node_name(node) %}
    {%- set parents = ([node.attached_node] if node.attached_node else [])
                      + (node.depends_on.nodes or []) -%}
    {%- for unique_id in parents -%}
        {%- if unique_id in graph.nodes -%}
            {{ return(graph.nodes[unique_id].name) }}
        {%- elif unique_id in graph.sources -%}
            {%- set source = graph.sources[unique_id] -%}
            {{ return(source.source_name ~ '.' ~ source.name) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{% endmacro %}


{% macro _audit_tested_column_name(node) %}
    {%- if node.column_name -%}{{ return(node.column_name) }}{%- endif -%}
    {%- set kwargs = node.test_metadata.kwargs if node.test_metadata else {} -%}
    {{ return(kwargs.get('column_name') or none) }}
{% endmacro %}


{#- When dbt finished executing the node (naive UTC), none if it did not run. -#}
{% macro _audit_result_completed_at(result) %}
    {%- for timing in result.timing or [] if timing.name == 'execute' -%}
        {{ return(timing.completed_at) }}
    {%- endfor -%}
    {{ return(none) }}
{% endmacro %}


{#- Up to n `sample_key` values (strings) of a failing test's rows. -#}
{% macro _audit_sample_keys(compiled_sql, n) %}
    {%- set sql = dq_sample_keys_sql(compiled_sql, n) -%}
    {%- if sql is none -%}{{ return([]) }}{%- endif -%}
    {%- set found = _audit_fetch(sql) -%}
    {%- set names = found.column_names | map('lower') | list -%}
    {%- if 'sample_key' not in names -%}{{ return([]) }}{%- endif -%}
    {%- set position = names.index('sample_key') -%}
    {%- set keys = [] -%}
    {%- for row in found.rows if row[position] is not none -%}
        {%- do keys.append(row[position] | string) -%}
    {%- endfor -%}
    {{ return(keys[:n]) }}
{% endmacro %}
