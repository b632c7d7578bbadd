"""Click commands: parse, call a service, print."""
