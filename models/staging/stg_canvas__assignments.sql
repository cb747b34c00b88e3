with

source as (

    select * from {{ canvas_source('canvas_assignments') }}

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
        {{ to_bigint('id') }} as assignment_id,
        coalesce(
            {{ json_int('record', 'course_id') }},
            {{ json_int('record', 'context_id') }}  -- CD2: context_id
        ) as course_id,
        {{ json_int('record', 'assignment_group_id') }} as assignment_group_id,

        ----------  strings
        coalesce(
            {{ json_value('record', 'name') }},
            {{ json_value('record', 'title') }}  -- CD2: title
        ) as assignment_name,
        {{ json_value('record', 'grading_type') }} as grading_type,
        {{ json_value('record', 'workflow_state') }} as workflow_state,
        {{ json_array_join('record', 'submission_types', ',') }} as submission_types,
        {{ json_value('record', 'html_url') }} as html_url,

        ----------  numerics
        {{ json_number('record', 'points_possible') }} as points_possible,
        {{ json_int('record', 'position') }} as assignment_position,

        ----------  booleans
        coalesce(
            {{ json_bool('record', 'published') }},
            -- CD2: no `published`; workflow_state says it
            case {{ json_value('record', 'workflow_state') }}
                when 'published' then 1
                when 'unpublished' then 0
            end
        ) as is_published,
        {{ json_bool('record', 'omit_from_final_grade') }} as is_omitted_from_final_grade,

        ----------  timestamps
        {{ parse_timestamp_utc(json_value('record', 'created_at')) }} as created_at,
        {{ parse_timestamp_utc(json_value('record', 'updated_at')) }} as updated_at,
        {{ parse_timestamp_utc(json_value('record', 'due_at')) }} as due_at,
        {{ parse_timestamp_utc(json_value('record', 'lock_at')) }} as lock_at,
        {{ parse_timestamp_utc(json_value('record', 'unlock_at')) }} as unlock_at,

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
