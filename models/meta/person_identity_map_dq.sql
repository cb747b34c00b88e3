{#- One row per identity conflict in cur.person_identity_map: a sis_user_id,
    or a login_id (case-insensitive), held by more than one Canvas user, with
    the user ids involved. -#}

with

identities as (

    select * from {{ ref('person_identity_map') }}

),

shared_sis_user_ids as (

    select
        'shared_sis_user_id' as conflict_type,
        identities.sis_user_id as conflict_value,
        count(*) as user_count,
        {{ dbt.listagg(
            cast_string('identities.user_id'), "','", 'order by identities.user_id'
        ) }} as user_ids,
        min(identities.user_id) as first_user_id,
        max(identities.ingested_at) as last_ingested_at
    from identities
    where identities.sis_user_id is not null
    group by identities.sis_user_id
    having count(*) > 1

),

shared_login_ids as (

    select
        'shared_login_id' as conflict_type,
        identities.normalized_login_id as conflict_value,
        count(*) as user_count,
        {{ dbt.listagg(
            cast_string('identities.user_id'), "','", 'order by identities.user_id'
        ) }} as user_ids,
        min(identities.user_id) as first_user_id,
        max(identities.ingested_at) as last_ingested_at
    from identities
    where identities.normalized_login_id is not null
    group by identities.normalized_login_id
    having count(*) > 1

),

conflicts as (

    select
        shared_sis_user_ids.conflict_type,
        shared_sis_user_ids.conflict_value,
        shared_sis_user_ids.user_count,
        shared_sis_user_ids.user_ids,
        shared_sis_user_ids.first_user_id,
        shared_sis_user_ids.last_ingested_at
    from shared_sis_user_ids

    union all

    select
        shared_login_ids.conflict_type,
        shared_login_ids.conflict_value,
        shared_login_ids.user_count,
        shared_login_ids.user_ids,
        shared_login_ids.first_user_id,
        shared_login_ids.last_ingested_at
    from shared_login_ids

)

select * from conflicts
