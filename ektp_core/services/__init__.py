"""The services that run the office's work on top of the lifecycle: printing, capture, verification, accounts."""
