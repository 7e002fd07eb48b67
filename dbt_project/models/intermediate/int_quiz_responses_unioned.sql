{#- Every quiz answer: the generated (or ingested) responses plus those customers gave live and
    the stream landed, so the next batch run's quiz features know what the online store was told
    at once. A live answer's response_id is a bigint derived from its event id, as feedback
    impressions get theirs. Answers of customers the data set does not know yet are kept: the
    quiz mart is what cold start reads for them; the profile features join on known customers. -#}

with

responses as (

    select * from {{ ref('stg_smartstack__quiz_responses') }}

),

landed as (

    select * from {{ ref('stg_events__quiz_answers') }}

),

unioned as (

    select
        response_id,
        customer_id,
        answered_at,
        favourite_category,
        reward_preference,
        is_planning_travel
    from responses

    union all

    select
        {{ stable_bigint('event_id') }} as response_id,
        customer_id,
        answered_at,
        favourite_category,
        reward_preference,
        is_planning_travel
    from landed

)

select * from unioned
