with

source as (

    select * from {{ source('canvas', 'canvas_assignments') }}

),

renamed as (

    select
        ----------  ids
        {{ to_bigint('id') }} as assignment_id,
        {{ json_int('payload', 'course_id') }} as course_id,
        {{ json_int('payload', 'assignment_group_id') }} as assignment_group_id,

        ----------  strings
        {{ json_value('payload', 'name') }} as assignment_name,
        {{ json_value('payload', 'grading_type') }} as grading_type,
        {{ json_value('payload', 'workflow_state') }} as workflow_state,
        {{ json_array_join('payload', 'submission_types', ',') }} as submission_types,
        {{ json_value('payload', 'html_url') }} as html_url,

        ----------  numerics
        {{ json_number('payload', 'points_possible') }} as points_possible,
        {{ json_int('payload', 'position') }} as assignment_position,

        ----------  booleans
        {{ json_bool('payload', 'published') }} as is_published,
        {{ json_bool('payload', 'omit_from_final_grade') }} as is_omitted_from_final_grade,

        ----------  timestamps
        {{ parse_timestamp_utc(json_value('payload', 'created_at')) }} as created_at,
        {{ parse_timestamp_utc(json_value('payload', 'updated_at')) }} as updated_at,
        {{ parse_timestamp_utc(json_value('payload', 'due_at')) }} as due_at,
        {{ parse_timestamp_utc(json_value('payload', 'lock_at')) }} as lock_at,
        {{ parse_timestamp_utc(json_value('payload', 'unlock_at')) }} as unlock_at,

        ----------  load metadata
        ingested_at,
        source_file,
        load_id

    from source

)

select * from renamed
