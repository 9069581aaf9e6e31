"""``spp bench``: protocols on Table-1 shapes over real servers, with time, bytes, rounds, error."""
