// Imported first by the CLI: the worker's Powertools logger and metrics read these when they
// are created, and a terminal run wants neither JSON logs nor EMF lines between its output.
process.env.POWERTOOLS_LOG_LEVEL ??= "SILENT";
process.env.POWERTOOLS_METRICS_DISABLED ??= "true";
