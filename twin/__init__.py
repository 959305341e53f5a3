"""The composition root: settings, the pipeline's wiring, the API, the CLI and the demo."""
