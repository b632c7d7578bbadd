"""The core 12345 ticket service: domain, service functions and the HTTP API router."""
