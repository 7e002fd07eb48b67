{#- Each customer's engagement as of each as-of date, computed from the landed feedback and quiz
    answers exactly as smartstack.engagement.state counts them live, so training sees the
    streak and badges the ranking will see (feature view `customer_engagement`, which the stream
    also pushes to). Weeks are UTC weeks numbered like the engagement store's (week_number); a
    qualifying week counts from the day of its first qualifying event, so only events strictly
    before the as-of date count. Customers without any activity before the date have no row.

    The rules come as vars from `smartstack dbt` (the engagement rules file): the actions that
    make a week count (`engagement_streak_qualifying`) and the active badges
    (`engagement_badges`: id, metric, target). Badges are never lost once earned, and every
    metric only grows, so a badge is earned as of a date when its metric has reached its target
    by then. The rising-spend guardrail is not applied here (see the schema file). -#}
{%- set qualifying = var('engagement_streak_qualifying', none) -%}
{%- set badges = var('engagement_badges', none) -%}
{%- if execute and (qualifying is none or badges is none) -%}
  {{ exceptions.raise_compiler_error(
      "vars engagement_streak_qualifying and engagement_badges are not set: build through "
      ~ "`smartstack dbt` (or smartstack-dbt), which passes the engagement rules file's") }}
{%- endif -%}
{#- Each badge metric of smartstack.engagement.rules.Metric, as a column of `metrics` below. -#}
{%- set metric_columns = {
    'redemptions': 'redemptions',
    'redeemed_categories': 'redeemed_categories',
    'ratings': 'ratings',
    'clicks': 'clicks',
    'quizzes': 'quizzes',
    'longest_streak': 'longest_streak',
} -%}
{%- set reached = [] -%}
{%- for badge in badges or [] -%}
  {%- if badge.metric not in metric_columns -%}
    {{ exceptions.raise_compiler_error(
        "badge '" ~ badge.id ~ "': metric '" ~ badge.metric ~ "' is not counted here") }}
  {%- endif -%}
  {%- do reached.append(
      "case when metrics." ~ metric_columns[badge.metric] ~ " >= " ~ (badge.target | int)
      ~ " then 1 else 0 end") -%}
{%- endfor %}

with

offers as (

    select
        offer_id,
        merchant_category

    from {{ ref('stg_smartstack__offers') }}

),

feedback as (

    select
        feedback.customer_id,
        feedback.kind as action,
        -- A redeemed offer's category; an offer missing from the catalogue has none.
        case when feedback.kind = 'redeem' then offers.merchant_category end as merchant_category,
        {{ day_number('feedback.occurred_at') }} as activity_day,
        {{ week_number('feedback.occurred_at') }} as activity_week

    from {{ ref('stg_events__feedback') }} as feedback
    left join offers
        on feedback.offer_id = offers.offer_id
    where feedback.kind in ('redeem', 'rating', 'click')

),

quiz as (

    select
        customer_id,
        'quiz' as action,
        cast(null as {{ dbt.type_string() }}) as merchant_category,
        {{ day_number('answered_at') }} as activity_day,
        {{ week_number('answered_at') }} as activity_week

    from {{ ref('stg_events__quiz_answers') }}

),

activities as (

    select * from feedback
    union all
    select * from quiz

),

qualifying_weeks as (

    select
        customer_id,
        activity_week as week_number,
        min(activity_day) as first_day

    from activities
    where action in (
        {%- for action in qualifying or [] %}'{{ action }}'{{ ', ' if not loop.last }}{% endfor -%}
    )
    group by customer_id, activity_week

),

-- Gaps and islands: consecutive weeks share week_number - (their rank), and the run ending at
-- a week is its distance from the first week of its island, plus one.
islands as (

    select
        customer_id,
        week_number,
        first_day,
        week_number - row_number() over (
            partition by customer_id order by week_number
        ) as island

    from qualifying_weeks

),

runs as (

    select
        customer_id,
        week_number,
        first_day,
        week_number - min(week_number) over (partition by customer_id, island) + 1 as run_length

    from islands

),

snapshot_dates as (

    select * from {{ ref('int_snapshot_dates_generated') }}

),

-- The weeks known at an as-of date are the first ones of the customer's weeks in order (a
-- later week cannot have started before an earlier one), so each island known then is a
-- prefix of the island over all weeks, and a run ending at a known week is known whole.
streaks as (

    select
        runs.customer_id,
        snapshot_dates.as_of,
        max(runs.week_number) as last_week,
        max(runs.run_length) as longest_streak

    from runs
    inner join snapshot_dates
        on runs.first_day < snapshot_dates.as_of_day
    group by runs.customer_id, snapshot_dates.as_of

),

counts as (

    select
        activities.customer_id,
        snapshot_dates.as_of,
        sum(case when activities.action = 'redeem' then 1 else 0 end) as redemptions,
        count(distinct activities.merchant_category) as redeemed_categories,
        sum(case when activities.action = 'rating' then 1 else 0 end) as ratings,
        sum(case when activities.action = 'click' then 1 else 0 end) as clicks,
        sum(case when activities.action = 'quiz' then 1 else 0 end) as quizzes

    from activities
    inner join snapshot_dates
        on activities.activity_day < snapshot_dates.as_of_day
    group by activities.customer_id, snapshot_dates.as_of

),

metrics as (

    select
        counts.customer_id,
        counts.as_of,
        counts.redemptions,
        counts.redeemed_categories,
        counts.ratings,
        counts.clicks,
        counts.quizzes,
        coalesce(streaks.longest_streak, 0) as longest_streak,
        streaks.last_week,
        coalesce(last_run.run_length, 0) as streak_run

    from counts
    left join streaks
        on counts.customer_id = streaks.customer_id
        and counts.as_of = streaks.as_of
    left join runs as last_run
        on streaks.customer_id = last_run.customer_id
        and streaks.last_week = last_run.week_number

),

final as (

    select
        metrics.customer_id,
        metrics.as_of as event_timestamp,
        {{ as_count('metrics.last_week') }} as engagement_last_week,
        {{ as_count('metrics.streak_run') }} as engagement_streak_run,
        {{ as_count(reached | join(' + ') if reached else '0') }} as engagement_badge_count

    from metrics

)

select * from final
