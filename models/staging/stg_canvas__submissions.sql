with

source as (

    select * from {{ canvas_source('canvas_submissions') }}

),

records as (

    -- Canvas REST records and Canvas Data 2 envelopes alike: the record itself
    -- (json_record); where CD2 names a column differently, the CD2 name is
    -- read as a fallback below, marked `CD2:`.
    select
        source.*,
        {{ json_record('payload') }} as record
    from source

),

renamed as (

    select
        ----------  ids
        {{ to_bigint('id') }} as submission_id,
        {{ json_int('record', 'assignment_id') }} as assignment_id,
        {{ json_int('record', 'user_id') }} as user_id,
        {{ json_int('record', 'grader_id') }} as grader_id,

        ----------  strings
        {{ json_value('record', 'workflow_state') }} as workflow_state,
        {{ json_value('record', 'submission_type') }} as submission_type,
        {{ json_value('record', 'grade') }} as grade,
        {{ json_value('record', 'entered_grade') }} as entered_grade,
        {{ json_value('record', 'late_policy_status') }} as late_policy_status,

        ----------  numerics
        {{ json_int('record', 'attempt') }} as attempt,
        {{ json_number('record', 'score') }} as score,
        {{ json_number('record', 'entered_score') }} as entered_score,
        {{ json_number('record', 'points_deducted') }} as points_deducted,
        {{ json_number('record', 'seconds_late') }} as seconds_late,
        {{ json_int('record', 'extra_attempts') }} as extra_attempts,
        {{ json_array_length('record', 'submission_comments') }} as submission_comment_count,

        ----------  booleans
        {{ json_bool('record', 'late') }} as is_late,
        {{ json_bool('record', 'missing') }} as is_missing,
        {{ json_bool('record', 'excused') }} as is_excused,
        {{ json_bool('record', 'redo_request') }} as has_redo_request,
        {{ json_bool('record', 'grade_matches_current_submission') }}
            as is_grade_current,

        ----------  timestamps
        {{ parse_timestamp_utc(json_value('record', 'submitted_at')) }} as submitted_at,
        {{ parse_timestamp_utc(json_value('record', 'graded_at')) }} as graded_at,
        {{ parse_timestamp_utc(json_value('record', 'posted_at')) }} as posted_at,
        {{ parse_timestamp_utc(json_value('record', 'cached_due_date')) }} as cached_due_at,

        ----------  deletes (loader: envelope delete or workflow_state deleted)
        {{ bool_to_bit('deleted_at is not null') }} as is_deleted,
        deleted_at,

        ----------  load metadata
        ingested_at,
        source_file,
        load_id

    from records

)

select * from renamed
