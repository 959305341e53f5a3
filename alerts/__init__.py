"""Hazard detection and the alert workflow: detectors, rules with their standards, the manager."""
