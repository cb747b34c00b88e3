{#- Canvas submissions carry no course_id: the course (and points_possible)
    come from the submission's assignment. So a row depends on two raw
    records, and is (re)built when EITHER changed since the last run:
      - the submission's own ingested_at is past the fact's max(ingested_at);
      - its assignment's ingested_at is past the fact's
        max(assignment_ingested_at), the newest assignment version the fact
        has already joined (an assignment that arrives late, or moves to
        another course, reaches every submission that points to it).
    Both watermarks only move forward (raw contract), so after any sequence
    of loads the incremental table equals a --full-refresh build. -#}
{{
    config(
        unique_key='submission_key',
        incremental_strategy='delete+insert',
    )
}}

with

submissions as (

    select * from {{ ref('stg_canvas__submissions') }}

),

assignments as (

    select * from {{ ref('stg_canvas__assignments') }}

),

submissions_with_assignment as (

    select
        submissions.submission_id,
        submissions.assignment_id,
        submissions.user_id,
        assignments.course_id,
        submissions.grader_id,
        submissions.workflow_state,
        submissions.submission_type,
        submissions.attempt,
        submissions.score,
        submissions.grade,
        assignments.points_possible,
        submissions.is_late,
        submissions.is_missing,
        submissions.is_excused,
        submissions.late_policy_status,
        submissions.points_deducted,
        submissions.seconds_late,
        submissions.submitted_at,
        submissions.graded_at,
        submissions.posted_at,
        submissions.cached_due_at,
        submissions.ingested_at,
        assignments.ingested_at as assignment_ingested_at,
        submissions.load_id
    from submissions
    left join assignments
        on submissions.assignment_id = assignments.assignment_id
    {% if canvas_is_incremental() %}
        where
            {{ ingested_after_watermark('submissions.ingested_at') }}
            or {{ ingested_after_watermark(
                'assignments.ingested_at', this_column='assignment_ingested_at'
            ) }}
    {% endif %}

),

submission_facts as (

    select
        {{ hash_key(['submission_id']) }} as submission_key,
        submission_id,
        {{ hash_key(['assignment_id'], null_if_any_null=true) }} as assignment_key,
        assignment_id,
        {{ hash_key(['user_id'], null_if_any_null=true) }} as student_key,
        user_id,
        {{ hash_key(['course_id'], null_if_any_null=true) }} as course_key,
        course_id,
        grader_id,
        workflow_state,
        submission_type,
        attempt,
        score,
        grade,
        points_possible,
        is_late,
        is_missing,
        is_excused,
        late_policy_status,
        points_deducted,
        seconds_late,
        submitted_at,
        graded_at,
        posted_at,
        cached_due_at,
        ingested_at,
        assignment_ingested_at,
        load_id
    from submissions_with_assignment

)

select * from submission_facts
