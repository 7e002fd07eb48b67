{#- Feedback events, one row per event id: the landing is exactly-once, but a part left by a
    writer that crashed mid-append is visible until the next append removes it, so the first
    landing of each id wins here too. Without any landed part (a fresh data set) DuckDB has no
    file to read, and the model is empty with the same columns. -#}

with

source as (

    {% if has_landed('feedback') %}
    select * from {{ source('events', 'feedback') }}
    {% else %}
    select
        cast(null as {{ dbt.type_string() }}) as event_id,
        cast(null as {{ dbt.type_int() }}) as schema_version,
        cast(null as {{ dbt.type_string() }}) as kind,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_string() }}) as offer_id,
        cast(null as {{ dbt.type_timestamp() }}) as occurred_at,
        cast(null as {{ dbt.type_string() }}) as request_id,
        cast(null as {{ dbt.type_string() }}) as channel,
        cast(null as {{ dbt.type_int() }}) as position,
        cast(null as {{ dbt.type_int() }}) as rating,
        cast(null as {{ dbt.type_string() }}) as feature_version,
        cast(null as {{ dbt.type_string() }}) as source,
        cast(null as {{ dbt.type_string() }}) as template_id,
        cast(null as {{ dbt.type_string() }}) as model,
        cast(null as {{ dbt.type_timestamp() }}) as landed_at
    where 1 = 0
    {% endif %}

),

renamed as (

    select
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        cast(schema_version as {{ dbt.type_int() }}) as schema_version,
        cast(kind as {{ dbt.type_string() }}) as kind,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(offer_id as {{ dbt.type_string() }}) as offer_id,
        cast(occurred_at as {{ dbt.type_timestamp() }}) as occurred_at,
        cast(request_id as {{ dbt.type_string() }}) as request_id,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(position as {{ dbt.type_int() }}) as position,
        cast(rating as {{ dbt.type_int() }}) as rating,
        cast(feature_version as {{ dbt.type_string() }}) as feature_version,
        cast(source as {{ dbt.type_string() }}) as explanation_source,
        cast(template_id as {{ dbt.type_string() }}) as template_id,
        cast(model as {{ dbt.type_string() }}) as model,
        cast(landed_at as {{ dbt.type_timestamp() }}) as landed_at

    from source
    where event_id is not null

),

deduplicated as (

    {{ first_row_per('renamed', 'event_id', 'landed_at nulls last') }}

)

select * from deduplicated
