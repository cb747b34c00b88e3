with

schema_change_log as (

    select
        run_id,
        table_schema,
        table_name,
        change_type,
        column_name,
        old_definition,
        new_definition,
        detected_at
    from {{ source('meta', 'schema_change_log') }}

),

change_runs as (

    select
        run_id,
        max(detected_at) as detected_at
    from schema_change_log
    group by run_id

),

ranked_runs as (

    select
        run_id,
        row_number() over (order by detected_at desc, run_id desc) as run_rank
    from change_runs

)

select
    schema_change_log.run_id,
    schema_change_log.table_schema,
    schema_change_log.table_name,
    schema_change_log.change_type,
    schema_change_log.column_name,
    schema_change_log.old_definition,
    schema_change_log.new_definition,
    schema_change_log.detected_at
from schema_change_log
inner join ranked_runs
    on schema_change_log.run_id = ranked_runs.run_id
where ranked_runs.run_rank = 1
