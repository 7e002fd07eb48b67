{#- Consent changes, one row per event id: as for feedback, a part left by a writer that crashed
    mid-append is visible until the next append removes it, so the first landing of each id
    wins. Without any landed part (a fresh data set) the model is empty with the same columns.
    Enabled for every data set (dbt_project.yml). -#}

with

source as (

    {% if has_landed('consent_events') %}
    select * from {{ source('events', 'consent_events') }}
    {% else %}
    select
        cast(null as {{ dbt.type_string() }}) as event_id,
        cast(null as {{ dbt.type_int() }}) as schema_version,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_timestamp() }}) as changed_at,
        cast(null as {{ dbt.type_boolean() }}) as personalization,
        cast(null as {{ dbt.type_boolean() }}) as llm_messaging,
        cast(null as {{ dbt.type_boolean() }}) as analytics,
        cast(null as {{ dbt.type_string() }}) as source,
        cast(null as {{ dbt.type_timestamp() }}) as landed_at
    where 1 = 0
    {% endif %}

),

renamed as (

    select
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        cast(schema_version as {{ dbt.type_int() }}) as schema_version,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(changed_at as {{ dbt.type_timestamp() }}) as changed_at,
        cast(personalization as {{ dbt.type_boolean() }}) as consent_personalization,
        cast(llm_messaging as {{ dbt.type_boolean() }}) as consent_llm_messaging,
        cast(analytics as {{ dbt.type_boolean() }}) as consent_analytics,
        cast(source as {{ dbt.type_string() }}) as recorded_by,
        cast(landed_at as {{ dbt.type_timestamp() }}) as landed_at

    from source
    where event_id is not null

),

deduplicated as (

    {{ first_row_per('renamed', 'event_id', 'landed_at nulls last') }}

)

select * from deduplicated
