{#-
    drop_rolled_back_rows(): pre-hook of every curated model. On an
    incremental run, deletes the model's rows built from a raw version that
    `loader rollback` removed: rows whose load_id is a load meta.load_file
    marks 'rolled_back'. The rollback moves the versions it restores back
    into raw with a new ingested_at, so the model's own filter takes them
    again; rows of records the load inserted have no version left and are
    gone. So the next incremental build equals a --full-refresh.
    Empty on a full refresh or a first build (nothing to drop).
-#}
{% macro drop_rolled_back_rows() -%}
    {{ return(adapter.dispatch('drop_rolled_back_rows', 'canvas_pipeline')()) }}
{%- endmacro %}

{% macro default__drop_rolled_back_rows() -%}
    {%- if canvas_is_incremental() -%}
        delete from {{ this }}
        where load_id in (
            select rolled_back.load_id
            from {{ _audit_meta_schema() }}.load_file as rolled_back
            where rolled_back.status = 'rolled_back'
        )
    {%- endif -%}
{%- endmacro %}
