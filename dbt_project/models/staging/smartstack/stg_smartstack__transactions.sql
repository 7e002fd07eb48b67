with

source as (

    select * from {{ source('smartstack', 'transactions') }}

),

renamed as (

    select
        cast(transaction_id as {{ dbt.type_bigint() }}) as transaction_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(event_timestamp as {{ dbt.type_timestamp() }}) as transacted_at,
        cast(merchant_name as {{ dbt.type_string() }}) as merchant_name,
        cast(merchant_category as {{ dbt.type_string() }}) as merchant_category,
        cast(amount as {{ type_double() }}) as amount,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(channel as {{ dbt.type_string() }}) as channel

    from source

)

select * from renamed
