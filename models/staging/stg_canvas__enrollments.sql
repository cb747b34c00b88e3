with

source as (

    select * from {{ source('canvas', 'canvas_enrollments') }}

),

renamed as (

    select
        ----------  ids
        {{ to_bigint('id') }} as enrollment_id,
        {{ json_int('payload', 'user_id') }} as user_id,
        {{ json_int('payload', 'course_id') }} as course_id,
        {{ json_int('payload', 'course_section_id') }} as course_section_id,
        {{ json_int('payload', 'role_id') }} as role_id,
        nullif({{ json_value('payload', 'sis_user_id') }}, '') as sis_user_id,
        nullif({{ json_value('payload', 'sis_course_id') }}, '') as sis_course_id,

        ----------  strings
        {{ json_value('payload', 'type') }} as enrollment_type,
        {{ json_value('payload', 'role') }} as enrollment_role,
        {{ json_value('payload', 'enrollment_state') }} as enrollment_state,
        {{ json_value('payload', 'grades.current_grade') }} as current_grade,
        {{ json_value('payload', 'grades.final_grade') }} as final_grade,
        {{ json_value('payload', 'html_url') }} as html_url,

        ----------  numerics
        {{ json_number('payload', 'grades.current_score') }} as current_score,
        {{ json_number('payload', 'grades.final_score') }} as final_score,
        {{ json_int('payload', 'total_activity_time') }} as total_activity_seconds,

        ----------  timestamps
        {{ parse_timestamp_utc(json_value('payload', 'created_at')) }} as created_at,
        {{ parse_timestamp_utc(json_value('payload', 'updated_at')) }} as updated_at,
        {{ parse_timestamp_utc(json_value('payload', 'start_at')) }} as start_at,
        {{ parse_timestamp_utc(json_value('payload', 'end_at')) }} as end_at,
        {{ parse_timestamp_utc(json_value('payload', 'last_activity_at')) }} as last_activity_at,

        ----------  load metadata
        ingested_at,
        source_file,
        load_id

    from source

)

select * from renamed
