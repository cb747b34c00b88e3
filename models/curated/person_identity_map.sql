{#- One row per Canvas user with the person it belongs to and whether its
    identity is in conflict: its sis_user_id, or its login_id (compared
    case-insensitively), is also held by another user.

    person_key groups accounts by SIS identity: hash('sis', sis_user_id) when
    the user has one, else hash('canvas', user_id).

    The conflict flag of a user depends on OTHER users, so an incremental run
    rebuilds every user whose identity values collide with a changed user's
    new OR previous values (a user that moves away from a shared sis_user_id
    clears the flag of the one left behind). Counts are taken over all users,
    so the result equals a full refresh. A user whose version `loader
    rollback` removed counts as changed too (its previous values). -#}
{{
    config(
        unique_key='user_id',
        incremental_strategy='delete+insert',
    )
}}

with

users as (

    select * from {{ ref('stg_canvas__users') }}

),

normalized_users as (

    select
        users.user_id,
        users.sis_user_id,
        users.login_id,
        lower(users.login_id) as normalized_login_id,
        users.email,
        users.is_deleted,
        users.deleted_at,
        users.ingested_at,
        users.load_id
    from users

),

{% if canvas_is_incremental() %}

    changed_users as (

        select
            normalized_users.user_id,
            normalized_users.sis_user_id,
            normalized_users.normalized_login_id
        from normalized_users
        where {{ ingested_after_watermark('normalized_users.ingested_at') }}

    ),

    previous_identities as (

        select
            identity_map.user_id,
            identity_map.sis_user_id,
            identity_map.normalized_login_id
        from {{ this }} as identity_map
        where
            identity_map.user_id in (select changed_users.user_id from changed_users)
            -- users whose version `loader rollback` removed: their identity
            -- values are gone too (drop_rolled_back_rows deletes their rows)
            or identity_map.load_id in ({{ rolled_back_loads() }})

    ),

    affected_sis_user_ids as (

        select changed_users.sis_user_id
        from changed_users
        where changed_users.sis_user_id is not null

        union all

        select previous_identities.sis_user_id
        from previous_identities
        where previous_identities.sis_user_id is not null

    ),

    affected_login_ids as (

        select changed_users.normalized_login_id
        from changed_users
        where changed_users.normalized_login_id is not null

        union all

        select previous_identities.normalized_login_id
        from previous_identities
        where previous_identities.normalized_login_id is not null

    ),

    users_to_build as (

        select normalized_users.*
        from normalized_users
        where
            normalized_users.user_id in (select changed_users.user_id from changed_users)
            or normalized_users.sis_user_id in (
                select affected_sis_user_ids.sis_user_id from affected_sis_user_ids
            )
            or normalized_users.normalized_login_id in (
                select affected_login_ids.normalized_login_id from affected_login_ids
            )

    ),

{% else %}

    users_to_build as (

        select * from normalized_users

    ),

{% endif %}

sis_user_id_counts as (

    select
        normalized_users.sis_user_id,
        count(*) as user_count
    from normalized_users
    where normalized_users.sis_user_id is not null
    group by normalized_users.sis_user_id

),

login_id_counts as (

    select
        normalized_users.normalized_login_id,
        count(*) as user_count
    from normalized_users
    where normalized_users.normalized_login_id is not null
    group by normalized_users.normalized_login_id

),

identities as (

    select
        users_to_build.user_id,
        case
            when users_to_build.sis_user_id is not null
                then {{ hash_key(["'sis'", 'users_to_build.sis_user_id']) }}
            else {{ hash_key(["'canvas'", 'users_to_build.user_id']) }}
        end as person_key,
        {{ hash_key(['users_to_build.user_id']) }} as student_key,
        users_to_build.sis_user_id,
        users_to_build.login_id,
        users_to_build.normalized_login_id,
        users_to_build.email,
        coalesce(sis_user_id_counts.user_count, 0) as sis_user_id_user_count,
        coalesce(login_id_counts.user_count, 0) as login_id_user_count,
        {{ bool_to_bit('sis_user_id_counts.user_count > 1') }}
            as has_shared_sis_user_id,
        {{ bool_to_bit('login_id_counts.user_count > 1') }}
            as has_shared_login_id,
        {{ bool_to_bit(
            'sis_user_id_counts.user_count > 1 or login_id_counts.user_count > 1'
        ) }} as has_identity_conflict,
        users_to_build.is_deleted,
        users_to_build.deleted_at,
        users_to_build.ingested_at,
        users_to_build.load_id
    from users_to_build
    left join sis_user_id_counts
        on users_to_build.sis_user_id = sis_user_id_counts.sis_user_id
    left join login_id_counts
        on users_to_build.normalized_login_id = login_id_counts.normalized_login_id

)

select * from identities
