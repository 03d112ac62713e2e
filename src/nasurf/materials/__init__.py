"""Materials arithmetic: theoretical capacity, volume change on sodiation, C-rate conversion."""
