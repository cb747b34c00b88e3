{#- SCD-2 history of Canvas enrollments (timestamp strategy on updated_at);
    properties and column docs in _snapshots.yml.

    Only the enrollments ingested after the newest version the snapshot
    holds are compared: every other raw enrollment is unchanged since an
    earlier snapshot run compared it (raw contract: ingested_at never goes
    backwards and moves whenever a record is rewritten), and comparing it
    again could not add or close a version. Enrollments missing from the
    query are left alone (no hard_deletes), so the history is the one the
    whole view would give, without parsing every enrollment on every run.
    since_ingested_at does not apply: a window past the snapshot's watermark
    would skip versions. -#}
{% snapshot enrollment_state_history %}

    {{
        config(
            unique_key='enrollment_id',
            strategy='timestamp',
            updated_at='updated_at',
        )
    }}

    select enrollments.*
    from {{ ref('stg_canvas__enrollments') }} as enrollments
    {% if canvas_snapshot_exists() %}
        where enrollments.ingested_at > {{ incremental_watermark('ingested_at') }}
    {% endif %}

{% endsnapshot %}
