"""The `metrics` plugin: `--metrics-file PATH` (a Prometheus text file kept current) and
`--pushgateway URL`."""
