{{
    config(
        unique_key='enrollment_key',
        incremental_strategy='delete+insert',
    )
}}

with

enrollments as (

    select * from {{ ref('stg_canvas__enrollments') }}

),

new_enrollments as (

    select * from enrollments
    {% if canvas_is_incremental() %}
        where {{ ingested_after_watermark('enrollments.ingested_at') }}
    {% endif %}

),

enrollment_facts as (

    select
        {{ hash_key(['new_enrollments.enrollment_id']) }} as enrollment_key,
        new_enrollments.enrollment_id,
        {{ hash_key(['new_enrollments.user_id'], null_if_any_null=true) }} as student_key,
        new_enrollments.user_id,
        {{ hash_key(['new_enrollments.course_id'], null_if_any_null=true) }} as course_key,
        new_enrollments.course_id,
        new_enrollments.course_section_id,
        new_enrollments.role_id,
        new_enrollments.enrollment_type,
        new_enrollments.enrollment_role,
        new_enrollments.enrollment_state,
        {{ bool_to_bit("new_enrollments.enrollment_type = 'StudentEnrollment'") }}
            as is_student_enrollment,
        {{ bool_to_bit("new_enrollments.enrollment_state = 'active'") }}
            as is_active_enrollment,
        new_enrollments.current_score,
        new_enrollments.final_score,
        new_enrollments.current_grade,
        new_enrollments.final_grade,
        new_enrollments.total_activity_seconds,
        new_enrollments.created_at,
        new_enrollments.updated_at,
        new_enrollments.start_at,
        new_enrollments.end_at,
        new_enrollments.last_activity_at,
        new_enrollments.is_deleted,
        new_enrollments.deleted_at,
        new_enrollments.ingested_at,
        new_enrollments.load_id
    from new_enrollments

)

select * from enrollment_facts
