{#- Canvas submissions carry no course_id: the course (and points_possible)
    come from the submission's assignment. So a row depends on two raw
    records, and is (re)built when EITHER changed since the last run:
      - the submission's own ingested_at is past the fact's max(ingested_at);
      - its assignment's ingested_at is past the fact's
        max(assignment_ingested_at), the newest assignment version the fact
        has already joined (an assignment that arrives late, or moves to
        another course, reaches every submission that points to it).
    Both watermarks only move forward (raw contract), so after any sequence
    of loads the incremental table equals a --full-refresh build.
    After `loader rollback`, an assignment version it removed also counts as
    changed (rolled_back_assignments, from raw.canvas_assignments__history);
    one it restored has a new ingested_at anyway.

    The incremental run selects the two sets apart, so that only the new
    payloads are parsed (an OR across the join filtered after parsing every
    raw submission):
      - new_submissions: the raw submissions past their watermark;
      - reassigned_submissions: the fact's own rows whose assignment changed,
        less those in new_submissions. Their raw record is the one the row
        was built from (at or below the watermark: unchanged since), so the
        submission's columns are taken from the fact as they are and only
        the assignment's are joined again; no raw payload is read.
    With var('since_ingested_at') (a window to reprocess, possibly past what
    the fact holds) the second set comes from the raw submissions instead.
-#}
{#- The submission's own columns, as the four selects below take them. -#}
{%- set submission_columns = [
    'submission_id', 'assignment_id', 'user_id', 'grader_id', 'workflow_state',
    'submission_type', 'attempt', 'score', 'grade', 'is_late', 'is_missing',
    'is_excused', 'late_policy_status', 'points_deducted', 'seconds_late',
    'submitted_at', 'graded_at', 'posted_at', 'cached_due_at', 'is_deleted',
    'deleted_at', 'ingested_at', 'load_id',
] -%}
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

{% if canvas_is_incremental() %}

    new_submissions as (

        select
            {% for column in submission_columns %}
                submissions.{{ column }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        from submissions
        where {{ ingested_after_watermark('submissions.ingested_at') }}

    ),

    changed_assignments as (

        select assignments.assignment_id
        from assignments
        where {{ ingested_after_watermark(
            'assignments.ingested_at', this_column='assignment_ingested_at'
        ) }}

    ),

    -- assignments whose version `loader rollback` removed since: the ones it
    -- restored are in changed_assignments too, the ones it removed only here
    rolled_back_assignments as (

        select {{ to_bigint('rolled_back.id') }} as assignment_id
        from {{ canvas_history('canvas_assignments') }} as rolled_back
        where
            rolled_back.change_kind = 'rolled_back'
            and {{ ingested_after_watermark(
                'rolled_back.superseded_at', this_column='assignment_ingested_at'
            ) }}

    ),

    {% if var('since_ingested_at', none) %}

        reassigned_submissions as (

            select
                {% for column in submission_columns %}
                    submissions.{{ column }}{% if not loop.last %},{% endif %}
                {%- endfor %}
            from submissions
            where
                not ({{ ingested_after_watermark('submissions.ingested_at') }})
                and (
                    submissions.assignment_id in (
                        select changed_assignments.assignment_id
                        from changed_assignments
                    )
                    or submissions.assignment_id in (
                        select rolled_back_assignments.assignment_id
                        from rolled_back_assignments
                    )
                )

        ),

    {% else %}

        reassigned_submissions as (

            select
                {% for column in submission_columns %}
                    existing_facts.{{ column }}{% if not loop.last %},{% endif %}
                {%- endfor %}
            from {{ this }} as existing_facts
            where
                (
                    existing_facts.assignment_id in (
                        select changed_assignments.assignment_id
                        from changed_assignments
                    )
                    or existing_facts.assignment_id in (
                        select rolled_back_assignments.assignment_id
                        from rolled_back_assignments
                    )
                )
                and not exists (
                    select 1
                    from new_submissions
                    where new_submissions.submission_id = existing_facts.submission_id
                )

        ),

    {% endif %}

    submissions_to_build as (

        select * from new_submissions

        union all

        select * from reassigned_submissions

    ),

{% else %}

    submissions_to_build as (

        select
            {% for column in submission_columns %}
                submissions.{{ column }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        from submissions

    ),

{% endif %}

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
        submissions.is_deleted,
        submissions.deleted_at,
        submissions.ingested_at,
        assignments.ingested_at as assignment_ingested_at,
        submissions.load_id
    from submissions_to_build as submissions
    left join assignments
        on submissions.assignment_id = assignments.assignment_id

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
        is_deleted,
        deleted_at,
        ingested_at,
        assignment_ingested_at,
        load_id
    from submissions_with_assignment

)

select * from submission_facts
