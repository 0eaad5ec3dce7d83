"""Latency subsystem: block specs, devices, profilers, measurement store, predictors."""
