{#- Private: the text sample key of a failing row ('<null>' when the key
    itself is NULL, e.g. not_null on the key column). -#}
{% macro _dq_sample_key(expression) -%}
    coalesce({{ canvas_pipeline.cast_string(expression) }}, '<null>')
{%- endmacro %}
