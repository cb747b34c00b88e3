{#-
    bool_to_bit(condition): a SQL condition -> 1/0 integer flag (is_/has_
    columns). SQL Server has no boolean type; NULL (unknown) becomes 0.
-#}
{% macro bool_to_bit(condition) -%}
    {{ return(adapter.dispatch('bool_to_bit', 'canvas_pipeline')(condition)) }}
{%- endmacro %}

{% macro default__bool_to_bit(condition) -%}
    cast(case when {{ condition }} then 1 else 0 end as {{ dbt.type_int() | lower }})
{%- endmacro %}
