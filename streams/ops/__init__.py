"""What SREs see: metrics, the web endpoints /metrics, /health and /live, the stall watchdog
and the broker contact watch; and who may read the data endpoints (access)."""
