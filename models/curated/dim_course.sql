{{
    config(
        unique_key='course_key',
        incremental_strategy='delete+insert',
    )
}}

with

courses as (

    select * from {{ ref('stg_canvas__courses') }}

),

new_courses as (

    select * from courses
    {% if canvas_is_incremental() %}
        where {{ ingested_after_watermark('courses.ingested_at') }}
    {% endif %}

),

course_dimension as (

    select
        {{ hash_key(['new_courses.course_id']) }} as course_key,
        new_courses.course_id,
        new_courses.sis_course_id,
        new_courses.course_uuid,
        new_courses.course_name,
        new_courses.course_code,
        new_courses.workflow_state,
        new_courses.account_id,
        new_courses.root_account_id,
        new_courses.enrollment_term_id,
        new_courses.term_name,
        new_courses.term_start_at,
        new_courses.term_end_at,
        new_courses.time_zone,
        new_courses.default_view,
        new_courses.license,
        new_courses.is_public,
        new_courses.created_at,
        new_courses.start_at,
        new_courses.end_at,
        new_courses.is_deleted,
        new_courses.deleted_at,
        new_courses.ingested_at,
        new_courses.load_id
    from new_courses

)

select * from course_dimension
