{#- Fails on rows where the column is NULL; sample_key = key_column. -#}
{% test dq_not_null(model, column_name, key_column=none) %}
    {{ return(adapter.dispatch('test_dq_not_null', 'canvas_pipeline')(
        model, column_name, key_column)) }}
{% endtest %}

{% macro default__test_dq_not_null(model, column_name, key_column) %}
select
    {{ canvas_pipeline._dq_sample_key(key_column or column_name) }} as sample_key
from {{ model }}
where {{ column_name }} is null
{% endmacro %}
