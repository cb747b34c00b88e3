{#- A non-null value below the lower bound or above the upper bound. Each
    bound is a constant (min_value / max_value) and/or another column of the
    same row (min_column / max_column, e.g. score <= points_possible); a NULL
    bound column does not fail the row (the bound is unknown). -#}
{% test dq_in_range(
    model, column_name, min_value=none, max_value=none,
    min_column=none, max_column=none, key_column=none
) %}
    {{ return(adapter.dispatch('test_dq_in_range', 'canvas_pipeline')(
        model, column_name, min_value, max_value, min_column, max_column, key_column)) }}
{% endtest %}

{% macro default__test_dq_in_range(
    model, column_name, min_value, max_value, min_column, max_column, key_column
) %}
{%- set violations = [] -%}
{%- if min_value is not none -%}
    {%- do violations.append(column_name ~ " < " ~ min_value) -%}
{%- endif -%}
{%- if min_column is not none -%}
    {%- do violations.append(column_name ~ " < " ~ min_column) -%}
{%- endif -%}
{%- if max_value is not none -%}
    {%- do violations.append(column_name ~ " > " ~ max_value) -%}
{%- endif -%}
{%- if max_column is not none -%}
    {%- do violations.append(column_name ~ " > " ~ max_column) -%}
{%- endif -%}
{%- if not violations -%}
    {{ exceptions.raise_compiler_error(
        "dq_in_range on " ~ column_name ~ ": give at least one bound") }}
{%- endif -%}
select
    {{ canvas_pipeline._dq_sample_key(key_column or column_name) }} as sample_key,
    {{ column_name }} as out_of_range_value
from {{ model }}
where
    {{ column_name }} is not null
    and ({{ violations | join(' or ') }})
{% endmacro %}
