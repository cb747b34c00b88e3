{#- One row per student per course: users with at least one StudentEnrollment
    in the course (several sections collapse into one row), with their
    submission counts and scores in that course. Rebuilt every run. -#}

with

enrollments as (

    select * from {{ ref('fact_enrollment') }}
    where is_deleted = 0  -- live rows only

),

students as (

    select * from {{ ref('dim_student') }}
    where is_deleted = 0  -- live rows only

),

courses as (

    select * from {{ ref('dim_course') }}
    where is_deleted = 0  -- live rows only

),

assignments as (

    select * from {{ ref('dim_assignment') }}
    where is_deleted = 0  -- live rows only

),

submissions as (

    select * from {{ ref('fact_submission') }}
    where is_deleted = 0  -- live rows only

),

identities as (

    select * from {{ ref('person_identity_map') }}
    where is_deleted = 0  -- live rows only

),

student_enrollments as (

    select
        enrollments.student_key,
        enrollments.user_id,
        enrollments.course_key,
        enrollments.course_id,
        count(*) as enrollment_count,
        max(enrollments.is_active_enrollment) as has_active_enrollment,
        max(enrollments.current_score) as current_score,
        max(enrollments.final_score) as final_score,
        cast(
            sum(enrollments.total_activity_seconds) as {{ dbt.type_bigint() | lower }}
        ) as total_activity_seconds,
        max(enrollments.last_activity_at) as last_activity_at
    from enrollments
    where
        enrollments.is_student_enrollment = 1
        and enrollments.course_key is not null
    group by
        enrollments.student_key,
        enrollments.user_id,
        enrollments.course_key,
        enrollments.course_id

),

course_assignments as (

    select
        assignments.course_key,
        count(*) as assignment_count,
        sum(assignments.points_possible) as course_points_possible
    from assignments
    where assignments.course_key is not null
    group by assignments.course_key

),

student_submissions as (

    select
        submissions.student_key,
        submissions.course_key,
        count(*) as submission_count,
        sum(
            case when submissions.submitted_at is not null then 1 else 0 end
        ) as submitted_count,
        sum(
            case when submissions.workflow_state = 'graded' then 1 else 0 end
        ) as graded_count,
        sum(submissions.is_late) as late_count,
        sum(submissions.is_missing) as missing_count,
        sum(submissions.is_excused) as excused_count,
        sum(submissions.score) as total_score,
        sum(
            case when submissions.score is not null then submissions.points_possible end
        ) as graded_points_possible,
        max(submissions.submitted_at) as last_submitted_at
    from submissions
    where submissions.course_key is not null
    group by
        submissions.student_key,
        submissions.course_key

),

summary as (

    select
        {{ hash_key(['student_enrollments.user_id', 'student_enrollments.course_id']) }}
            as student_course_key,
        student_enrollments.student_key,
        student_enrollments.user_id,
        students.user_name,
        students.sortable_name,
        students.sis_user_id,
        students.email,
        coalesce(students.has_email, 0) as has_email,
        identities.person_key,
        coalesce(identities.has_identity_conflict, 0) as has_identity_conflict,
        student_enrollments.course_key,
        student_enrollments.course_id,
        courses.course_name,
        courses.course_code,
        courses.term_name,
        courses.workflow_state as course_workflow_state,
        student_enrollments.enrollment_count,
        student_enrollments.has_active_enrollment,
        student_enrollments.current_score,
        student_enrollments.final_score,
        coalesce(course_assignments.assignment_count, 0) as course_assignment_count,
        course_assignments.course_points_possible,
        coalesce(student_submissions.submission_count, 0) as submission_count,
        coalesce(student_submissions.submitted_count, 0) as submitted_count,
        coalesce(student_submissions.graded_count, 0) as graded_count,
        coalesce(student_submissions.late_count, 0) as late_count,
        coalesce(student_submissions.missing_count, 0) as missing_count,
        coalesce(student_submissions.excused_count, 0) as excused_count,
        student_submissions.total_score,
        student_submissions.graded_points_possible,
        case
            when student_submissions.graded_points_possible > 0
                then cast(
                    round(
                        student_submissions.total_score
                        / student_submissions.graded_points_possible,
                        4
                    ) as {{ dbt.type_numeric() }}
                )
        end as score_ratio,
        student_submissions.last_submitted_at,
        student_enrollments.last_activity_at,
        student_enrollments.total_activity_seconds
    from student_enrollments
    left join students
        on student_enrollments.student_key = students.student_key
    left join identities
        on student_enrollments.user_id = identities.user_id
    left join courses
        on student_enrollments.course_key = courses.course_key
    left join course_assignments
        on student_enrollments.course_key = course_assignments.course_key
    left join student_submissions
        on
            student_enrollments.student_key = student_submissions.student_key
            and student_enrollments.course_key = student_submissions.course_key

)

select * from summary
