"""The owner's TOML config: typed objects (`model`) and the loader that reports every problem (`load`)."""

from hostagent.config.load import load_config, load_config_text, parse_config
from hostagent.config.model import *  # noqa: F403  (the config vocabulary, re-exported on purpose)

__all__ = [  # noqa: F405  (the model's names come from the star import)
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_STATE_DIR",
    "MAINT_CATEGORIES",
    "WEEKDAYS",
    "AgentConfig",
    "CleanupConfig",
    "Config",
    "DecayStep",
    "DefaultJobConfig",
    "EarningsConfig",
    "GuardConfig",
    "HardwareConfig",
    "HealthConfig",
    "IdleDecayConfig",
    "MachineConfig",
    "MaintenanceConfig",
    "MaintenanceWindow",
    "MarketConfig",
    "MetricsConfig",
    "MinBidConfig",
    "PriceBounds",
    "PricingConfig",
    "ScheduleRule",
    "VastConfig",
    "Weekday",
    "load_config",
    "load_config_text",
    "parse_config",
]
