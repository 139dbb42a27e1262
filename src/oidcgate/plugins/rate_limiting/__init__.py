"""Kong's rate-limiting plugin: fixed windows per second ... year, counted per worker or in Redis."""
