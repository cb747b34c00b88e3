with

source as (

    select * from {{ source('canvas', 'canvas_courses') }}

),

renamed as (

    select
        ----------  ids
        {{ to_bigint('id') }} as course_id,
        {{ json_int('payload', 'account_id') }} as account_id,
        {{ json_int('payload', 'root_account_id') }} as root_account_id,
        {{ json_int('payload', 'enrollment_term_id') }} as enrollment_term_id,
        nullif({{ json_value('payload', 'sis_course_id') }}, '') as sis_course_id,
        nullif({{ json_value('payload', 'integration_id') }}, '') as integration_id,
        {{ json_value('payload', 'uuid') }} as course_uuid,

        ----------  strings
        {{ json_value('payload', 'name') }} as course_name,
        {{ json_value('payload', 'course_code') }} as course_code,
        {{ json_value('payload', 'workflow_state') }} as workflow_state,
        {{ json_value('payload', 'time_zone') }} as time_zone,
        {{ json_value('payload', 'default_view') }} as default_view,
        {{ json_value('payload', 'license') }} as license,
        {{ json_value('payload', 'term.name') }} as term_name,

        ----------  booleans
        {{ json_bool('payload', 'is_public') }} as is_public,

        ----------  timestamps
        {{ parse_timestamp_utc(json_value('payload', 'created_at')) }} as created_at,
        {{ parse_timestamp_utc(json_value('payload', 'start_at')) }} as start_at,
        {{ parse_timestamp_utc(json_value('payload', 'end_at')) }} as end_at,
        {{ parse_timestamp_utc(json_value('payload', 'term.start_at')) }} as term_start_at,
        {{ parse_timestamp_utc(json_value('payload', 'term.end_at')) }} as term_end_at,

        ----------  load metadata
        ingested_at,
        source_file,
        load_id

    from source

)

select * from renamed
