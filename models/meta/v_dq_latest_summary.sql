with

dq_check_result as (

    select
        run_id,
        check_name,
        model_name,
        column_name,
        severity,
        status,
        failing_rows,
        sample_keys,
        checked_at,
        execution_time_ms
    from {{ source('meta', 'dq_check_result') }}

),

ranked as (

    select
        dq_check_result.run_id,
        dq_check_result.check_name,
        dq_check_result.model_name,
        dq_check_result.column_name,
        dq_check_result.severity,
        dq_check_result.status,
        dq_check_result.failing_rows,
        dq_check_result.sample_keys,
        dq_check_result.checked_at,
        dq_check_result.execution_time_ms,
        row_number() over (
            partition by dq_check_result.check_name
            order by dq_check_result.checked_at desc, dq_check_result.run_id desc
        ) as result_rank
    from dq_check_result

)

select
    check_name,
    model_name,
    column_name,
    severity,
    status,
    case when status in ('warn', 'fail', 'error') then 1 else 0 end as is_failing,
    failing_rows,
    sample_keys,
    checked_at,
    execution_time_ms,
    run_id
from ranked
where result_rank = 1
