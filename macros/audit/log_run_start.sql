{#- log_run_start(): on-run-start hook, the invocation's meta.job_run row with
    status 'running', committed before any model runs.

    A build that is killed (or whose on-run-end never runs) so still leaves a
    trace, as a killed load does; on-run-end (log_run_results) replaces the
    row with the final one. Same activity rule as the other audit hooks.
-#}
{% macro log_run_start() %}
    {{ return(adapter.dispatch('log_run_start', 'canvas_pipeline')()) }}
{% endmacro %}

{% macro default__log_run_start() %}
    {%- if not _audit_is_active() -%}{{ return('') }}{%- endif -%}
    {%- set started_at = run_started_at.astimezone(modules.pytz.utc).replace(tzinfo=none) -%}
    {%- do _audit_insert(_audit_meta_schema() ~ '.job_run', [
        'run_id', 'job_name', 'status', 'started_at', 'metrics_json'], [[
            audit_string_literal(invocation_id),
            audit_string_literal('dbt ' ~ flags.WHICH),
            audit_string_literal('running'),
            _audit_ts_value(started_at),
            audit_string_literal(tojson({'command': flags.WHICH})),
        ]]) -%}
    {%- do adapter.commit() -%}
    {{ return('') }}
{% endmacro %}
