with

source as (

    select * from {{ canvas_source('canvas_courses') }}

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
        {{ to_bigint('id') }} as course_id,
        {{ json_int('record', 'account_id') }} as account_id,
        {{ json_int('record', 'root_account_id') }} as root_account_id,
        {{ json_int('record', 'enrollment_term_id') }} as enrollment_term_id,
        nullif(coalesce(
            {{ json_value('record', 'sis_course_id') }},
            {{ json_value('record', 'sis_source_id') }}  -- CD2: sis_source_id
        ), '') as sis_course_id,
        nullif({{ json_value('record', 'integration_id') }}, '') as integration_id,
        {{ json_value('record', 'uuid') }} as course_uuid,

        ----------  strings
        {{ json_value('record', 'name') }} as course_name,
        {{ json_value('record', 'course_code') }} as course_code,
        {{ json_value('record', 'workflow_state') }} as workflow_state,
        {{ json_value('record', 'time_zone') }} as time_zone,
        {{ json_value('record', 'default_view') }} as default_view,
        {{ json_value('record', 'license') }} as license,
        {{ json_value('record', 'term.name') }} as term_name,

        ----------  booleans
        {{ json_bool('record', 'is_public') }} as is_public,

        ----------  timestamps
        {{ parse_timestamp_utc(json_value('record', 'created_at')) }} as created_at,
        {{ parse_timestamp_utc(json_value('record', 'start_at')) }} as start_at,
        {{ parse_timestamp_utc(
            'coalesce(' ~ json_value('record', 'end_at') ~ ', '
            ~ json_value('record', 'conclude_at') ~ ')'
        ) }} as end_at,  -- CD2: conclude_at
        {{ parse_timestamp_utc(json_value('record', 'term.start_at')) }} as term_start_at,
        {{ parse_timestamp_utc(json_value('record', 'term.end_at')) }} as term_end_at,

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
