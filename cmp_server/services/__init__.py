"""Services: what the platform does, independent of HTTP. Each module owns one concept."""
