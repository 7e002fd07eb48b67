with

source as (

    select * from {{ source('smartstack', 'clickstream') }}

),

renamed as (

    select
        cast(event_id as {{ dbt.type_bigint() }}) as event_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(session_id as {{ dbt.type_bigint() }}) as session_id,
        cast(event_timestamp as {{ dbt.type_timestamp() }}) as occurred_at,
        cast(event_name as {{ dbt.type_string() }}) as event_name,
        cast(page_location as {{ dbt.type_string() }}) as page_location,
        cast(offer_id as {{ dbt.type_string() }}) as offer_id,
        cast(search_term as {{ dbt.type_string() }}) as search_term,
        cast(device_category as {{ dbt.type_string() }}) as device_category

    from source

)

select * from renamed
