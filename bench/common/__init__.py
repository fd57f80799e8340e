"""What both benchmarks share: the throwaway database and users, server processes and
their /proc readings, the description of the machine and code, percentiles."""
