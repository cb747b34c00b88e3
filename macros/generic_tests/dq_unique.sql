{#- Fails once per duplicated value; sample_key = the duplicated value. -#}
{% test dq_unique(model, column_name) %}
    {{ return(adapter.dispatch('test_dq_unique', 'canvas_pipeline')(model, column_name)) }}
{% endtest %}

{% macro default__test_dq_unique(model, column_name) %}
select
    {{ canvas_pipeline._dq_sample_key(column_name) }} as sample_key,
    count(*) as duplicate_rows
from {{ model }}
where {{ column_name }} is not null
group by {{ column_name }}
having count(*) > 1
{% endmacro %}


{#- Fails once per duplicated combination of `columns` (a list);
    sample_key = the values joined with '|'. -#}
{% test dq_unique_combination(model, columns) %}
    {{ return(adapter.dispatch('test_dq_unique_combination', 'canvas_pipeline')(
        model, columns)) }}
{% endtest %}

{% macro default__test_dq_unique_combination(model, columns) %}
{%- set parts = [] -%}
{%- for column in columns -%}
    {%- if not loop.first -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- do parts.append("coalesce(" ~ canvas_pipeline.cast_string(column) ~ ", '')") -%}
{%- endfor -%}
select
    {{ dbt.concat(parts) }} as sample_key,
    count(*) as duplicate_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endmacro %}
