{#- A row where `expression` (a condition over the model's columns) is false.
    A NULL result does not fail the row. -#}
{% test dq_expression_is_true(model, expression, key_column, column_name=none) %}
    {{ return(adapter.dispatch('test_dq_expression_is_true', 'canvas_pipeline')(
        model, expression, key_column)) }}
{% endtest %}

{% macro default__test_dq_expression_is_true(model, expression, key_column) %}
select
    {{ canvas_pipeline._dq_sample_key(key_column) }} as sample_key
from {{ model }}
where not ({{ expression }})
{% endmacro %}
