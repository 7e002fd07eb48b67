"""Folders of the repository the package is installed from (editable install).

dbt, Feast and Great Expectations each keep their definitions in a top-level folder
(``dbt_project/``, ``feature_repo/``, ``expectations/``), found from here rather than from the
working directory, so Airflow tasks and tests can run from anywhere.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
FEATURE_REPO_DIR = PROJECT_ROOT / "feature_repo"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
TRAINING_DIR = PROJECT_ROOT / "training"
TRAINING_PARAMS = TRAINING_DIR / "params.yaml"
AIRFLOW_VENV = PROJECT_ROOT / ".venv-airflow"
ENGAGEMENT_DIR = PROJECT_ROOT / "engagement"
ENGAGEMENT_RULES = ENGAGEMENT_DIR / "rules.yaml"
QUIZ_QUESTIONS = ENGAGEMENT_DIR / "quiz.yaml"
MODEL_CARD_TEMPLATE = TRAINING_DIR / "model_card.md"
EXPERIMENTS_FILE = PROJECT_ROOT / "experiments" / "experiments.yaml"
WEB_DIR = PROJECT_ROOT / "web"
WEB_DIST = WEB_DIR / "dist"  # the built app (`npm run build` in web/)
