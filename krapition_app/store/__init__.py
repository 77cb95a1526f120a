"""Storage (sqlite through sqlite-utils): owned objects, events of every chain, cache of remote objects."""
