{#- Every quiz answer at the moment it was given, by customer (feature view `customer_quiz`,
    which the stream also pushes live answers to): the online store keeps each customer's latest,
    which the next ranking's stated favourite and the cold-start tier read, and training joins
    the latest before each impression. Answers after the snapshot are not known yet. The
    columns are `stated_*` so as not to collide with the profile's snapshot of the same answer
    (`quiz_*`) among the inputs of the on-demand features. -#}
with

answers as (

    select * from {{ ref('int_quiz_responses_unioned') }}

),

final as (

    select
        response_id,
        customer_id,
        answered_at as event_timestamp,
        favourite_category as stated_favourite_category,
        case
            when reward_preference = 'rewards' then 1
            when reward_preference = 'discounts' then 0
        end as stated_prefers_rewards,
        case
            when is_planning_travel then 1
            when not is_planning_travel then 0
        end as stated_planning_travel

    from answers
    where answered_at < cast('{{ var("snapshot") }}' as {{ dbt.type_timestamp() }})

)

select * from final
