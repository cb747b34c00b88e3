{#- A non-null value outside the accepted list. The list is `values`, or the
    project variable named by `values_var` (so the list lives in
    dbt_project.yml). quote=false for numeric values. -#}
{% test dq_accepted_values(
    model, column_name, values=none, values_var=none, key_column=none, quote=true
) %}
    {{ return(adapter.dispatch('test_dq_accepted_values', 'canvas_pipeline')(
        model, column_name, values, values_var, key_column, quote)) }}
{% endtest %}

{% macro default__test_dq_accepted_values(
    model, column_name, values, values_var, key_column, quote
) %}
{%- set accepted = values if values is not none else var(values_var, none) -%}
{%- if accepted is string -%}{%- set accepted = fromyaml(accepted) -%}{%- endif -%}
{%- if not accepted -%}
    {{ exceptions.raise_compiler_error(
        "dq_accepted_values on " ~ column_name ~ ": give `values` or `values_var`") }}
{%- endif -%}
select
    {{ canvas_pipeline._dq_sample_key(key_column or column_name) }} as sample_key,
    {{ column_name }} as unaccepted_value
from {{ model }}
where
    {{ column_name }} is not null
    and {{ column_name }} not in (
        {%- for value in accepted -%}
            {%- if quote %}'{{ value | replace("'", "''") }}'{% else %}{{ value }}{% endif -%}
            {%- if not loop.last %}, {% endif -%}
        {%- endfor -%}
    )
{% endmacro %}
