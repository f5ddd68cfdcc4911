"""The data config: how pixels must be prepared for a model (``data_config.json``, next to every
model). The contract, its checks and its reader live in foodclf.contracts.data_config, which
imports no torch; this module keeps the name the rest of foodclf imports it by."""
from foodclf.contracts.data_config import (  # noqa: F401 (re-exported)
    DATA_CONFIG_FILE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    INTERPOLATIONS,
    SCHEMA_VERSION,
    DataConfig,
    DataConfigError,
    read_data_config,
)
