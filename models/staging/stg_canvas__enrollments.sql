with

source as (

    select * from {{ canvas_source('canvas_enrollments') }}

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
        {{ to_bigint('id') }} as enrollment_id,
        {{ json_int('record', 'user_id') }} as user_id,
        {{ json_int('record', 'course_id') }} as course_id,
        {{ json_int('record', 'course_section_id') }} as course_section_id,
        {{ json_int('record', 'role_id') }} as role_id,
        nullif({{ json_value('record', 'sis_user_id') }}, '') as sis_user_id,
        nullif({{ json_value('record', 'sis_course_id') }}, '') as sis_course_id,

        ----------  strings
        {{ json_value('record', 'type') }} as enrollment_type,
        {{ json_value('record', 'role') }} as enrollment_role,
        coalesce(
            {{ json_value('record', 'enrollment_state') }},
            {{ json_value('record', 'workflow_state') }}  -- CD2: workflow_state
        ) as enrollment_state,
        {{ json_value('record', 'grades.current_grade') }} as current_grade,
        {{ json_value('record', 'grades.final_grade') }} as final_grade,
        {{ json_value('record', 'html_url') }} as html_url,

        ----------  numerics
        {{ json_number('record', 'grades.current_score') }} as current_score,
        {{ json_number('record', 'grades.final_score') }} as final_score,
        {{ json_int('record', 'total_activity_time') }} as total_activity_seconds,

        ----------  timestamps
        {{ parse_timestamp_utc(json_value('record', 'created_at')) }} as created_at,
        {{ parse_timestamp_utc(json_value('record', 'updated_at')) }} as updated_at,
        {{ parse_timestamp_utc(json_value('record', 'start_at')) }} as start_at,
        {{ parse_timestamp_utc(json_value('record', 'end_at')) }} as end_at,
        {{ parse_timestamp_utc(json_value('record', 'last_activity_at')) }} as last_activity_at,

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
