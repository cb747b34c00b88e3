with

source as (

    select * from {{ source('canvas', 'canvas_submissions') }}

),

renamed as (

    select
        ----------  ids
        {{ to_bigint('id') }} as submission_id,
        {{ json_int('payload', 'assignment_id') }} as assignment_id,
        {{ json_int('payload', 'user_id') }} as user_id,
        {{ json_int('payload', 'grader_id') }} as grader_id,

        ----------  strings
        {{ json_value('payload', 'workflow_state') }} as workflow_state,
        {{ json_value('payload', 'submission_type') }} as submission_type,
        {{ json_value('payload', 'grade') }} as grade,
        {{ json_value('payload', 'entered_grade') }} as entered_grade,
        {{ json_value('payload', 'late_policy_status') }} as late_policy_status,

        ----------  numerics
        {{ json_int('payload', 'attempt') }} as attempt,
        {{ json_number('payload', 'score') }} as score,
        {{ json_number('payload', 'entered_score') }} as entered_score,
        {{ json_number('payload', 'points_deducted') }} as points_deducted,
        {{ json_number('payload', 'seconds_late') }} as seconds_late,
        {{ json_int('payload', 'extra_attempts') }} as extra_attempts,
        {{ json_array_length('payload', 'submission_comments') }} as submission_comment_count,

        ----------  booleans
        {{ json_bool('payload', 'late') }} as is_late,
        {{ json_bool('payload', 'missing') }} as is_missing,
        {{ json_bool('payload', 'excused') }} as is_excused,
        {{ json_bool('payload', 'redo_request') }} as has_redo_request,
        {{ json_bool('payload', 'grade_matches_current_submission') }}
            as is_grade_current,

        ----------  timestamps
        {{ parse_timestamp_utc(json_value('payload', 'submitted_at')) }} as submitted_at,
        {{ parse_timestamp_utc(json_value('payload', 'graded_at')) }} as graded_at,
        {{ parse_timestamp_utc(json_value('payload', 'posted_at')) }} as posted_at,
        {{ parse_timestamp_utc(json_value('payload', 'cached_due_date')) }} as cached_due_at,

        ----------  load metadata
        ingested_at,
        source_file,
        load_id

    from source

)

select * from renamed
