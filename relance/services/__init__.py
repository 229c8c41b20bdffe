"""Domain services: plain arguments in, results out; no request, no clock (dates are passed in)."""
