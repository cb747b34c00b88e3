{#- Relationship check: a non-null `column_name` whose row in `to` (matched
    on `field`) does not exist. sample_key = key_column of the child row,
    e.g. the submission_id of a submission whose student is unknown.
    Late-arriving dimensions make this a finding (severity warn), not an error. -#}
{% test dq_orphan(model, column_name, to, field, key_column=none) %}
    {{ return(adapter.dispatch('test_dq_orphan', 'canvas_pipeline')(
        model, column_name, to, field, key_column)) }}
{% endtest %}

{% macro default__test_dq_orphan(model, column_name, to, field, key_column) %}
select
    {{ canvas_pipeline._dq_sample_key('child.' ~ (key_column or column_name)) }} as sample_key,
    child.{{ column_name }} as orphan_value
from {{ model }} as child
left join {{ to }} as parent
    on child.{{ column_name }} = parent.{{ field }}
where
    child.{{ column_name }} is not null
    and parent.{{ field }} is null
{% endmacro %}
