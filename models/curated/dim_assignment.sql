{{
    config(
        unique_key='assignment_key',
        incremental_strategy='delete+insert',
    )
}}

with

assignments as (

    select * from {{ ref('stg_canvas__assignments') }}

),

new_assignments as (

    select * from assignments
    {% if canvas_is_incremental() %}
        where {{ ingested_after_watermark('assignments.ingested_at') }}
    {% endif %}

),

assignment_dimension as (

    select
        {{ hash_key(['new_assignments.assignment_id']) }} as assignment_key,
        new_assignments.assignment_id,
        {{ hash_key(['new_assignments.course_id'], null_if_any_null=true) }} as course_key,
        new_assignments.course_id,
        new_assignments.assignment_group_id,
        new_assignments.assignment_name,
        new_assignments.grading_type,
        new_assignments.workflow_state,
        new_assignments.submission_types,
        new_assignments.points_possible,
        new_assignments.assignment_position,
        new_assignments.is_published,
        new_assignments.is_omitted_from_final_grade,
        new_assignments.created_at,
        new_assignments.updated_at,
        new_assignments.due_at,
        new_assignments.lock_at,
        new_assignments.unlock_at,
        new_assignments.is_deleted,
        new_assignments.deleted_at,
        new_assignments.ingested_at,
        new_assignments.load_id
    from new_assignments

)

select * from assignment_dimension
