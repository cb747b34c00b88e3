with

source as (

    select * from {{ canvas_source('canvas_users') }}

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
        {{ to_bigint('id') }} as user_id,
        nullif({{ json_value('record', 'sis_user_id') }}, '') as sis_user_id,
        nullif({{ json_value('record', 'integration_id') }}, '') as integration_id,
        nullif({{ json_value('record', 'login_id') }}, '') as login_id,

        ----------  strings
        {{ json_value('record', 'name') }} as user_name,
        {{ json_value('record', 'sortable_name') }} as sortable_name,
        {{ json_value('record', 'first_name') }} as first_name,
        {{ json_value('record', 'last_name') }} as last_name,
        {{ json_value('record', 'short_name') }} as short_name,
        nullif({{ json_value('record', 'email') }}, '') as email,
        {{ json_value('record', 'locale') }} as locale,
        {{ json_value('record', 'avatar_url') }} as avatar_url,

        ----------  timestamps
        {{ parse_timestamp_utc(json_value('record', 'last_login')) }} as last_login_at,

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
