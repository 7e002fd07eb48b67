"""What an error from the MLflow model registry means to the code asking.

Training, serving and monitoring each ask the registry which version an alias names, and each
must tell "there is none" (train first, serve SmartScore, nothing to compare) from "the registry
could not answer" (keep what is loaded, fail and retry), or a registry that blinked would look
like a withdrawn model.
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode


def missing(exc: MlflowException) -> bool:
    """The registered model or its alias does not exist, as opposed to a registry that could
    not answer (down, timing out, erroring), which callers must not read as "none".

    MLflow reports a missing model as ``RESOURCE_DOES_NOT_EXIST`` but a missing alias as
    ``INVALID_PARAMETER_VALUE`` ("Registered model alias … not found"), hence the message check.
    """
    return exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST) or "not found" in exc.message
