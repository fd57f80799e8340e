"""`make soak`: two instances under mixed traffic for minutes, memory and delivery watched."""
