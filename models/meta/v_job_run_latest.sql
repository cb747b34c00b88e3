with

job_run as (

    select
        run_id,
        job_name,
        status,
        started_at,
        ended_at,
        duration_ms,
        metrics_json,
        error_message
    from {{ source('meta', 'job_run') }}

),

ranked as (

    select
        job_run.run_id,
        job_run.job_name,
        job_run.status,
        job_run.started_at,
        job_run.ended_at,
        job_run.duration_ms,
        job_run.metrics_json,
        job_run.error_message,
        row_number() over (
            partition by job_run.job_name
            order by job_run.started_at desc, job_run.run_id desc
        ) as run_rank
    from job_run

)

select
    run_id,
    job_name,
    status,
    started_at,
    ended_at,
    duration_ms,
    metrics_json,
    error_message
from ranked
where run_rank = 1
