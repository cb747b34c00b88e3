{#- Schemas are used as named (stg, cur, mart, meta), not prefixed with the
    target schema: other tools (BI, the loader) rely on these names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
