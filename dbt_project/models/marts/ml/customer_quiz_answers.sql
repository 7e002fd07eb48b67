{#- Every quiz answer at the moment it was given, by customer: the online store keeps each
    customer's latest, which the ranking service reads for a customer it has no other features
    for yet (the cold-start tier). Answers after the snapshot are not known yet. -#}
with

answers as (

    select * from {{ ref('stg_smartstack__quiz_responses') }}

),

final as (

    select
        response_id,
        customer_id,
        answered_at as event_timestamp,
        favourite_category as quiz_favourite_category,
        case when reward_preference = 'rewards' then 1 else 0 end as quiz_prefers_rewards

    from answers
    where answered_at < cast('{{ var("snapshot") }}' as {{ dbt.type_timestamp() }})

)

select * from final
