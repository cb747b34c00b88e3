{#-
    drop_rolled_back_rows(): post-hook of every curated model. On an
    incremental run, deletes the model's rows built from a raw version that
    `loader rollback` removed: rows whose load_id is a load meta.load_file
    marks 'rolled_back' (no raw row carries such a load_id any more, so no
    row this run built is one of them). The rollback moves the versions it
    restores back into raw with a new ingested_at, so the model's own filter
    takes them again; rows of records the load inserted have no version left
    and are gone. Models whose rows depend on other rows (person_identity_map,
    fact_submission) also treat these as changes (rolled_back_loads(),
    canvas_history()). So the next incremental build equals a --full-refresh.
    Empty on a full refresh or a first build (nothing to drop).
-#}
{% macro drop_rolled_back_rows() -%}
    {{ return(adapter.dispatch('drop_rolled_back_rows', 'canvas_pipeline')()) }}
{%- endmacro %}

{% macro default__drop_rolled_back_rows() -%}
    {%- if canvas_is_incremental() -%}
        delete from {{ this }}
        where load_id in ({{ canvas_pipeline.rolled_back_loads() }})
    {%- endif -%}
{%- endmacro %}


{#- rolled_back_loads(): a subquery's select of the load ids `loader rollback`
    undid (meta.load_file status 'rolled_back'). -#}
{% macro rolled_back_loads() -%}
    select rolled_back.load_id
    from {{ _audit_meta_schema() }}.load_file as rolled_back
    where rolled_back.status = 'rolled_back'
{%- endmacro %}


{#- canvas_history(table_name): the relation raw.<table>__history of a table of
    the `canvas` source (the loader writes it; not a dbt source). -#}
{% macro canvas_history(table_name) -%}
    {%- set current = source('canvas', table_name) -%}
    {{ return(api.Relation.create(
        database=current.database, schema=current.schema,
        identifier=history_identifier(current.identifier))) }}
{%- endmacro %}

{#- A raw table's history table name: <table>__history, or past PostgreSQL's
    63-character limit its first 46 characters, '_', 7 hex digits of its MD5
    and '__history' (loader/contract.py history_name: the same rule). -#}
{% macro history_identifier(identifier) -%}
    {%- if (identifier | length) + 9 <= 63 -%}
        {{ return(identifier ~ '__history') }}
    {%- endif -%}
    {{ return(identifier[:46] ~ '_' ~ local_md5(identifier)[:7] ~ '__history') }}
{%- endmacro %}
