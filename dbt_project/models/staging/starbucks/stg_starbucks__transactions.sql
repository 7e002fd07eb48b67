with

source as (

    select * from {{ source('smartstack', 'transactions') }}

),

renamed as (

    select
        cast(transaction_id as {{ dbt.type_bigint() }}) as transaction_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(event_timestamp as {{ dbt.type_timestamp() }}) as transacted_at,
        cast(amount as {{ type_double() }}) as amount

    from source

)

select * from renamed
