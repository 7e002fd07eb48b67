"""The data the pipeline hands from one layer to the next, as Airflow assets.

Tasks that finish writing one of these name it as an outlet, so the Assets view shows when the
raw tables, the validated feature marts, the online features and the champion last changed, and
which run changed them. The feedback table is written by the stream processor, outside Airflow;
the weekly retraining names it as an inlet (what it learns from).
"""

from __future__ import annotations

from airflow.sdk import Asset

GROUP = "smartstack"

RAW_TABLES = Asset("smartstack_raw_tables", group=GROUP)
FEATURE_MARTS = Asset("smartstack_feature_marts", group=GROUP)
ONLINE_FEATURES = Asset("smartstack_online_features", group=GROUP)
CHAMPION_MODEL = Asset("smartstack_champion_model", group=GROUP)
FEEDBACK_EVENTS = Asset("smartstack_feedback_events", group=GROUP)
