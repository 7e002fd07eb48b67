-- One database per metadata store in the production-shaped stack.
CREATE DATABASE airflow;
CREATE DATABASE mlflow;
CREATE DATABASE feast;
