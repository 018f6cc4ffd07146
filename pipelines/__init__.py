"""pettrack.pipelines: what users run — sources, batching, sinks and the `pettrack` CLI."""
