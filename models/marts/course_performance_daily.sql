{#- One row per course per day (UTC date of submitted_at) with submission
    activity and scores of the submissions made that day. Submissions whose
    course is still unknown (assignment not loaded yet) or that were never
    submitted are left out. Rebuilt every run. -#}

with

submissions as (

    select * from {{ ref('fact_submission') }}
    where is_deleted = 0  -- live rows only

),

courses as (

    select * from {{ ref('dim_course') }}
    where is_deleted = 0  -- live rows only

),

daily_submissions as (

    select
        submissions.course_key,
        submissions.course_id,
        cast(submissions.submitted_at as date) as submission_date,
        count(*) as submission_count,
        count(distinct submissions.student_key) as student_count,
        sum(
            case when submissions.workflow_state = 'graded' then 1 else 0 end
        ) as graded_count,
        sum(submissions.is_late) as late_count,
        sum(submissions.is_missing) as missing_count,
        sum(submissions.score) as total_score,
        sum(
            case when submissions.score is not null then submissions.points_possible end
        ) as graded_points_possible,
        avg(submissions.score) as average_score
    from submissions
    where
        submissions.submitted_at is not null
        and submissions.course_key is not null
    group by
        submissions.course_key,
        submissions.course_id,
        cast(submissions.submitted_at as date)

),

course_days as (

    select
        daily_submissions.course_key,
        daily_submissions.course_id,
        courses.course_name,
        courses.course_code,
        courses.term_name,
        daily_submissions.submission_date,
        daily_submissions.submission_count,
        daily_submissions.student_count,
        daily_submissions.graded_count,
        coalesce(daily_submissions.late_count, 0) as late_count,
        coalesce(daily_submissions.missing_count, 0) as missing_count,
        daily_submissions.total_score,
        daily_submissions.graded_points_possible,
        cast(daily_submissions.average_score as {{ dbt.type_numeric() }}) as average_score,
        case
            when daily_submissions.graded_points_possible > 0
                then cast(
                    round(
                        daily_submissions.total_score
                        / daily_submissions.graded_points_possible,
                        4
                    ) as {{ dbt.type_numeric() }}
                )
        end as score_ratio
    from daily_submissions
    left join courses
        on daily_submissions.course_key = courses.course_key

)

select * from course_days
