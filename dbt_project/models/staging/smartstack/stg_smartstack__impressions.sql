with

source as (

    select * from {{ source('smartstack', 'impressions') }}

),

renamed as (

    select
        cast(impression_id as {{ dbt.type_bigint() }}) as impression_id,
        cast(request_id as {{ dbt.type_bigint() }}) as request_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(offer_id as {{ dbt.type_string() }}) as offer_id,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(position as {{ dbt.type_int() }}) as position,
        cast(shown_at as {{ dbt.type_timestamp() }}) as shown_at,
        cast(viewed_at as {{ dbt.type_timestamp() }}) as viewed_at,
        cast(clicked_at as {{ dbt.type_timestamp() }}) as clicked_at,
        cast(redeemed_at as {{ dbt.type_timestamp() }}) as redeemed_at,
        cast(outcome as {{ dbt.type_string() }}) as outcome

    from source

)

select * from renamed
