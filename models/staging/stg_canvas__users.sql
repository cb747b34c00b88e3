with

source as (

    select * from {{ source('canvas', 'canvas_users') }}

),

renamed as (

    select
        ----------  ids
        {{ to_bigint('id') }} as user_id,
        nullif({{ json_value('payload', 'sis_user_id') }}, '') as sis_user_id,
        nullif({{ json_value('payload', 'integration_id') }}, '') as integration_id,
        nullif({{ json_value('payload', 'login_id') }}, '') as login_id,

        ----------  strings
        {{ json_value('payload', 'name') }} as user_name,
        {{ json_value('payload', 'sortable_name') }} as sortable_name,
        {{ json_value('payload', 'first_name') }} as first_name,
        {{ json_value('payload', 'last_name') }} as last_name,
        {{ json_value('payload', 'short_name') }} as short_name,
        nullif({{ json_value('payload', 'email') }}, '') as email,
        {{ json_value('payload', 'locale') }} as locale,
        {{ json_value('payload', 'avatar_url') }} as avatar_url,

        ----------  timestamps
        {{ parse_timestamp_utc(json_value('payload', 'last_login')) }} as last_login_at,

        ----------  load metadata
        ingested_at,
        source_file,
        load_id

    from source

)

select * from renamed
