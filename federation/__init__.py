"""Federation with partner regions: realm routing and proxying over RADIUS and RadSec (to come)."""
