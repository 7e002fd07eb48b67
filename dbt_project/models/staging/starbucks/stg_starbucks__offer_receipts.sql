{#- One row per offer received, with the attributed view and completion (see the adapter,
    smartstack.data.starbucks): `redeemed_at` only when the view came first. -#}
with

source as (

    select * from {{ source('smartstack', 'impressions') }}

),

renamed as (

    select
        cast(impression_id as {{ dbt.type_bigint() }}) as impression_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(offer_id as {{ dbt.type_string() }}) as offer_id,
        cast(shown_at as {{ dbt.type_timestamp() }}) as received_at,
        cast(viewed_at as {{ dbt.type_timestamp() }}) as viewed_at,
        cast(completed_at as {{ dbt.type_timestamp() }}) as completed_at,
        cast(redeemed_at as {{ dbt.type_timestamp() }}) as redeemed_at,
        cast(expires_at as {{ dbt.type_timestamp() }}) as expires_at,
        cast(outcome as {{ dbt.type_string() }}) as outcome

    from source

)

select * from renamed
