{#- Live quiz answers, one row per event id: as for feedback, a part left by a writer that
    crashed mid-append is visible until the next append removes it, so the first landing of each
    id wins. Without any landed part (a fresh data set) the model is empty with the same
    columns. -#}

with

source as (

    {% if has_landed('quiz_answers') %}
    select * from {{ source('events', 'quiz_answers') }}
    {% else %}
    select
        cast(null as {{ dbt.type_string() }}) as event_id,
        cast(null as {{ dbt.type_int() }}) as schema_version,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_timestamp() }}) as answered_at,
        cast(null as {{ dbt.type_string() }}) as favourite_category,
        cast(null as {{ dbt.type_string() }}) as reward_preference,
        cast(null as {{ dbt.type_boolean() }}) as planning_travel,
        cast(null as {{ dbt.type_timestamp() }}) as landed_at
    where 1 = 0
    {% endif %}

),

renamed as (

    select
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        cast(schema_version as {{ dbt.type_int() }}) as schema_version,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(answered_at as {{ dbt.type_timestamp() }}) as answered_at,
        cast(favourite_category as {{ dbt.type_string() }}) as favourite_category,
        cast(reward_preference as {{ dbt.type_string() }}) as reward_preference,
        cast(planning_travel as {{ dbt.type_boolean() }}) as is_planning_travel,
        cast(landed_at as {{ dbt.type_timestamp() }}) as landed_at

    from source
    where event_id is not null

),

deduplicated as (

    {{ first_row_per('renamed', 'event_id', 'landed_at nulls last') }}

)

select * from deduplicated
