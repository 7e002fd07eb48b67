{#- The Starbucks offer portfolio: terms, the platform's headline and category, window length
    and channels (as 0/1 flags). -#}
with

source as (

    select * from {{ source('smartstack', 'offers') }}

),

renamed as (

    select
        cast(offer_id as {{ dbt.type_string() }}) as offer_id,
        cast(offer_type as {{ dbt.type_string() }}) as offer_type,
        cast(headline as {{ dbt.type_string() }}) as headline,
        cast(merchant_category as {{ dbt.type_string() }}) as merchant_category,
        cast(valid_from as {{ dbt.type_timestamp() }}) as valid_from,
        cast(min_spend as {{ type_double() }}) as min_spend,
        cast(value as {{ type_double() }}) as reward,
        cast(duration_days as {{ type_double() }}) as duration_days,
        {% for channel in var('starbucks_channels') %}
        case when channels like '%{{ channel }}%' then 1 else 0 end as sent_by_{{ channel }},
        {% endfor %}
        case when offer_type = 'informational' then 0 else 1 end as is_completable

    from source

)

select * from renamed
