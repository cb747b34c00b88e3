{#- One row per Canvas user: built from users alone, so every row is a
    function of its own raw record and the incremental build equals a full
    refresh. Whether a user is a student in a course comes from
    fact_enrollment (see the marts). -#}
{{
    config(
        unique_key='student_key',
        incremental_strategy='delete+insert',
    )
}}

with

users as (

    select * from {{ ref('stg_canvas__users') }}

),

new_users as (

    select * from users
    {% if canvas_is_incremental() %}
        where {{ ingested_after_watermark('users.ingested_at') }}
    {% endif %}

),

students as (

    select
        {{ hash_key(['new_users.user_id']) }} as student_key,
        new_users.user_id,
        new_users.sis_user_id,
        new_users.login_id,
        new_users.user_name,
        new_users.sortable_name,
        new_users.first_name,
        new_users.last_name,
        new_users.short_name,
        new_users.email,
        {{ bool_to_bit('new_users.email is not null') }} as has_email,
        new_users.locale,
        new_users.last_login_at,
        new_users.is_deleted,
        new_users.deleted_at,
        new_users.ingested_at,
        new_users.load_id
    from new_users

)

select * from students
