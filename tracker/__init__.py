"""pettrack.tracker: turns per-frame detections into smooth tracks (numpy + filterpy, no torch)."""
