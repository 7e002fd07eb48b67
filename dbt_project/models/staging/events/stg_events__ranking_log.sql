{#- The ranking log, one row per served request and shown offer, without the feature vectors
    and scores (monitoring counts what was shown, and by whom). The service writes each ranking
    once; a part rewritten by an erasure replaces the old one, so a pair is unique, and the
    first row of a pair wins should a part ever be read twice. Before the service served
    anything there is no folder at all, and the model is empty with the same columns. -#}

with

source as (

    {% if has_landed('ranking_log', folder=ranking_log_dir(), pattern='*/*.parquet') %}
    select * from {{ source('events', 'ranking_log') }}
    {% else %}
    select
        cast(null as {{ dbt.type_string() }}) as request_id,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_timestamp() }}) as served_at,
        cast(null as {{ dbt.type_timestamp() }}) as request_time,
        cast(null as {{ dbt.type_string() }}) as channel,
        cast(null as {{ dbt.type_string() }}) as tier,
        cast(null as {{ dbt.type_string() }}) as model_name,
        cast(null as {{ dbt.type_string() }}) as model_version,
        cast(null as {{ dbt.type_string() }}) as offer_id,
        cast(null as {{ dbt.type_int() }}) as rank,
        cast(null as {{ dbt.type_string() }}) as experiment,
        cast(null as {{ dbt.type_string() }}) as arm,
        cast(null as {{ dbt.type_string() }}) as ranker
    where 1 = 0
    {% endif %}

),

renamed as (

    select
        cast(request_id as {{ dbt.type_string() }}) as request_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(offer_id as {{ dbt.type_string() }}) as offer_id,
        cast(rank as {{ dbt.type_int() }}) as position,
        cast(served_at as {{ dbt.type_timestamp() }}) as served_at,
        cast(request_time as {{ dbt.type_timestamp() }}) as requested_at,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(tier as {{ dbt.type_string() }}) as tier,
        cast(model_name as {{ dbt.type_string() }}) as model_name,
        cast(model_version as {{ dbt.type_string() }}) as model_version,
        cast(experiment as {{ dbt.type_string() }}) as experiment,
        cast(arm as {{ dbt.type_string() }}) as arm,
        cast(ranker as {{ dbt.type_string() }}) as ranker

    from source
    where request_id is not null and offer_id is not null

),

deduplicated as (

    {{ first_row_per('renamed', 'request_id, offer_id', 'served_at nulls last') }}

)

select * from deduplicated
