"""One module per measure: overhead, latency, waiting, kill, replay; ``history`` reads what a run costs."""
