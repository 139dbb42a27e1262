"""Kong's prometheus plugin: request metrics under Kong's names on the status listener's `/metrics`."""
