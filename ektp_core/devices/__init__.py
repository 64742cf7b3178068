"""What the core asks of the outside world: printer, scanner, verifier, matcher and region-rule interfaces."""
