"""The long-running shell around the service layer.

The loop and its Vast worker (`service`, `vastworker`, `scheduling`), signals and sd_notify (`sdnotify`),
the one-agent-per-state-directory lock (`lock`), the metrics page (`metrics`, `metrics_server`) and
logging (`logs`). It drives `hostagent.service`; nothing below it imports it.
"""
